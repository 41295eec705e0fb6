// Package macos is the macOS trust-store adapter: certificates in the
// System keychain (/Library/Keychains/System.keychain) and the admin trust
// settings that make them trusted, driven through the security(1) tool.
//
// List tells present-and-trusted from present-but-untrusted: a
// certificate is trusted for TLS server authentication only when the admin
// trust settings (security trust-settings-export -d) say so for the SSL
// policy; the same settings give the purposes it is trusted for. Install
// runs `security add-trusted-cert -d -r trustRoot -p ssl -k
// /Library/Keychains/System.keychain` (TLS only; a copy trusted for more is
// narrowed). Distrust (stores.Distruster) writes deny settings for every
// policy (`-r deny`); undistrust removes them. On macOS 11 and later, without MDM
// that needs an administrator's interactive approval, and Install returns
// an error wrapping ErrNeedsMDM instead of failing silently: the route then
// is the signed .mobileconfig (com.apple.security.root payload), which
// cannot restrict purposes: macOS trusts such a root for every policy.
//
// Every command goes through a Runner, so the parsing and decisions here
// build and are tested on any platform against recorded outputs; only the
// registration with package stores is built on darwin.
package macos
