// Package node is the adapter for the trust of Node.js programs.
//
// Node compiles Mozilla's roots into its binary; the one lasting way to
// add a CA is NODE_EXTRA_CA_CERTS, a PEM file read when node starts
// (Node ≥ 7.3), set system-wide. The store (Format names the mechanism):
//
//	platform  where the variable is set                                        the file it names
//	Linux     /etc/environment (pam_env: every login session; Debian's          /etc/ssl/anchorwatch/extra-ca-certs.pem
//	          systemd reads it for user services through
//	          /usr/lib/environment.d/99-environment.conf, elsewhere
//	          /etc/environment.d/60-anchorwatch.conf is written too)
//	Windows   the machine environment, HKLM\SYSTEM\CurrentControlSet\Control\  %ProgramData%\Anchorwatch\extra-ca-certs.pem
//	          Session Manager\Environment (WM_SETTINGCHANGE is broadcast)
//	macOS     a LaunchAgent running launchctl setenv at each login             /Library/Application Support/Anchorwatch/extra-ca-certs.pem
//
// When the variable already names a file (an administrator's), the CA is
// added to that file instead and the variable is left alone. Both survive
// upgrades of Node; programs started before the change (services, open
// sessions) see it at their next start. NODE_USE_SYSTEM_CA=1 (Node ≥
// 23.8) makes Node read the system store instead; it is documented in
// docs/app-stores.md, not set here (Node 20 and 22 ignore it).
//
// npm's cafile (in npmrc files: system, per Node install, per home) names
// a bundle npm uses instead of Node's roots: each is a store too
// (configured-bundle). An inline ca= in an npmrc is reported with a Note.
//
// The store exists where a Node runtime is installed (system paths,
// /opt, nvm, volta, fnm, asdf) or the variable is already set.
package node
