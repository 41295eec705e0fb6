// Package firefox is the Firefox enterprise-policy adapter: one store per
// policies.json that an installed Firefox reads.
//
// On Linux it writes Certificates.Install (Linux: /etc/firefox/policies/
// policies.json and the distribution folder of each installed Firefox),
// with the PEM placed beside the policies.json that references it, so
// profiles created later trust the CA too (the NSS adapter handles the
// profiles that exist). On Windows and macOS it ensures
// Certificates.ImportEnterpriseRoots, so Firefox trusts what the OS store
// trusts, and reports a Firefox that does not have it. Every write merges
// with the policies already there and never drops an administrator's keys.
package firefox
