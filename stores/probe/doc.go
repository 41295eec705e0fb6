// Package probe runs the real TLS clients of a host against a URL: the
// help desk's question "which of this machine's programs trust the proxy?"
// answered by the programs themselves.
//
// Runtimes finds every client the application adapters know about: each
// Python interpreter (the system's and every environment's: requests when
// importable, else urllib with the ssl module), each Node binary
// (https.get, or a CONNECT through HTTPS_PROXY then tls.connect, since
// Node before 24 ignores the proxy variables), git (ls-remote), curl and
// wget. Run starts one with the environment a login session gets
// (/etc/environment, environment.d, profile.d exports, the machine
// environment on Windows), the caller's HTTPS_PROXY/NO_PROXY, and a
// deadline, and tells a failed certificate check from any other failure:
// an HTTP error after the handshake counts as trusted.
//
// A runtime inside a user's directory (a virtualenv, nvm) runs as that
// user, never as root, with the user's home, so the user's own
// configuration (pip.conf, .npmrc, .gitconfig) applies as it would for
// them; one that cannot be run as its owner is reported, not run.
package probe
