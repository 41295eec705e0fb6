// Package winetest runs the real Windows build of the agent
// (`anchorwatch.exe agent run`) under Wine against a real collector
// (server/servertest) and proves its watch/heal loop works with the
// Windows registry change notification, not only with files: a root
// deleted from LocalMachine ROOT is put back within seconds although the
// policy's full rescan is an hour away, the collector receives the
// removed and healed events, and the certificate is back when read
// independently of the agent (`wine reg query` and a bare crypt32
// enumeration).
//
// The MSI end to end: the agent's MSI installs with Wine's msiexec, and
// the installed agent, run in the foreground from a Linux working
// directory (its default root must be C:\ all the same), enrolls with a
// real collector and installs and heals the CA in LocalMachine ROOT and in
// a JDK's cacerts under C:\Program Files. The Windows-only tests of
// cmd/anchorwatch (the DACL of the MSI's config directory) run under Wine
// too.
//
// It holds tests only. The Wine prefix comes from stores/windows/winebed
// (Debian packages wine64 and gcc-mingw-w64-x86-64-win32); see
// docs/windows.md for what Wine cannot prove.
package winetest
