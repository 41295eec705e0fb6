// Package git is the adapter for the trust stores of Git's HTTPS
// transport.
//
// On Linux and macOS Git (through libcurl) verifies with the system
// bundle unless told otherwise, and stores/system covers that. The stores
// here (Info.Format names the mechanism):
//
//	format                  store                                                        survives upgrades?
//	configured-bundle       the file http.sslCAInfo names (any [http "<url>"] too) in      yes
//	                        the system gitconfig, Git for Windows' one, each home's
//	                        .gitconfig or .config/git/config; GIT_SSL_CAINFO set
//	                        system-wide
//	git-for-windows-bundle  <Git>/mingw64/etc/ssl/certs/ca-bundle.crt, what Git for        no: replaced by each Git for
//	                        Windows reads with the OpenSSL backend and no sslCAInfo       Windows upgrade; the agent heals it
//
// With http.sslBackend=schannel in Git for Windows' system config Git
// verifies with the Windows store (stores/windows) and its bundle is not a
// store: that setting is the upgrade-proof choice on Windows, and
// docs/app-stores.md says how to make it. A file a user's .gitconfig
// names is read and written as that user only.
package git
