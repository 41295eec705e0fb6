// Package container is the adapter for container registry trust: the
// certs.d directories of Docker, containerd and podman (CRI-O, buildah,
// skopeo), one store per registry directory.
//
//	format               directory                                              read by
//	docker-certs.d       /etc/docker/certs.d/<host[:port]>, ProgramData\docker\   dockerd (on every pull)
//	                     certs.d on Windows, ~/.docker/certs.d (Docker Desktop)
//	containers-certs.d   /etc/containers/certs.d/<host[:port]>,                  podman, buildah, skopeo, CRI-O
//	                     ~/.config/containers/certs.d (rootless)
//	containerd-certs.d   /etc/containerd/certs.d/<host[:port]>                   containerd (config_path)
//
// The rules, the same for all three (moby's registry.ReadCertsDirectory,
// containers-certs.d(5), containerd's hosts fallback): every *.crt file
// holds CA certificates, appended on Linux to the system pool; *.cert and
// *.key are client pairs, and one without the other fails every pull from
// that registry; any other name (ca.pem, ca.cer) is ignored. So Install
// writes anchorwatch-<sha256 prefix>.crt, a file nothing else claims, and
// List reports a certificate in a file the daemon ignores as untrusted.
// containerd with a hosts.toml reads only the ca files hosts.toml names:
// those are listed, and Install refuses with what to add to hosts.toml.
//
// A directory in certs.d survives every upgrade and is read at each pull
// (no daemon restart); the system store covers registries without one on
// Linux, but only after dockerd restarts (Go reads the system pool once).
//
// An offline image or container root file system is audited like a host:
// `anchorwatch audit --root DIR` on an unpacked image (docker export | tar
// -x) finds its system store, certifi bundles and copied bundles.
package container
