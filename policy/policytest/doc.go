// Package policytest signs policies for tests of the packages that
// consume them (the collector's upload path, the device exemptions, the
// agent's refusal of replayed policies).
package policytest
