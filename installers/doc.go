// Package installers builds the artifacts that carry the organization's CA
// (and the agent) to hosts that an agent alone cannot reach or should not
// have to: a signed Apple configuration profile (.mobileconfig), a Group
// Policy Registry.pol, Intune custom OMA-URI settings, and deb packages
// of the agent.
//
// Every builder takes CA certificates already parsed and checked by
// policy.ParseCAs, is a pure function of its inputs (same input, same
// bytes, apart from CMS signing time and package build metadata), and
// returns the artifact in memory; the caller writes it atomically.
//
// A CA is placed as a root when it is self-signed and as an intermediate
// otherwise (Root vs CA store on Windows, com.apple.security.root vs
// com.apple.security.pkcs1 on macOS).
package installers
