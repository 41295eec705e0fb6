// Package installers builds the artifacts that carry the organization's CA
// and the agent to hosts: the agent as a deb or rpm (nfpm), a Windows MSI
// (wixl, optionally Authenticode-signed with osslsigncode) and a macOS
// flat package (xar, Bom and cpio written here); a signed Apple
// configuration profile (.mobileconfig); a GPO kit (Registry.pol, a
// GroupPolicy-module script, GPT.INI, extension names, README); and an
// Intune kit (Graph bodies of trusted certificate profiles, OMA-URI
// settings, the MSI as a line-of-business app).
//
// Every builder takes inputs already checked (CAs from policy.ParseCAs;
// AgentFiles, whose config is checked as the agent will check it against
// the package's Layout), is a pure function of them apart from signing
// times and package build metadata, and returns the artifact in memory;
// the caller writes it atomically. The MSI and its signature come from the
// external tools wixl, msibuild and osslsigncode, run in a temp dir.
//
// A CA is placed as a root when it is self-signed and as an intermediate
// otherwise (Root vs CA store on Windows, com.apple.security.root vs
// com.apple.security.pkcs1 on macOS).
//
// The tests run the real readers of each format: dpkg, rpm (also
// installing into a debootstrapped Debian 11 root), msitools, Wine's
// msiexec, osslsigncode, bsdtar, cpio, plistutil and Python's plistlib;
// no macOS Installer ran the pkg. See docs/packaging.md.
package installers
