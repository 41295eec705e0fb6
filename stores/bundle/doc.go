// Package bundle is the adapter for PEM bundles that programs ship or are
// configured with outside the system store: curl and wget builds carrying
// their own ca-bundle.crt, Homebrew's cert.pem, vendor software under
// /opt and Program Files (GitLab's and Chef's embedded OpenSSL, …).
//
// Bundles are found by content, not only by name: under /opt, /usr/local,
// Program Files and Homebrew's prefix, every file of a plausible kind
// (not code, images, archives or binaries; 1 KiB to 8 MiB) whose first
// 4 KiB hold a PEM certificate, that holds at least two certificates and
// no private key, is a store (Format copied-bundle: the program's upgrade
// replaces it, the agent heals it). The walk is bounded (depth 8, 20 000
// entries per tree) and skips what other adapters own: Python's certifi
// and site-packages, Git for Windows, the cloud CLIs, the system anchors,
// container certs.d, and the files that system-wide configuration of
// another kind names.
//
// Configured bundles (Format configured-bundle, surviving upgrades): the
// file CURL_CA_BUNDLE names system-wide, wget's ca_certificate in
// /etc/wgetrc and each ~/.wgetrc, curl's cacert in each ~/.curlrc.
package bundle
