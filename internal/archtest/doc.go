// Package archtest holds no code: its test checks that the import graph
// keeps the layers of docs/ARCHITECTURE.md — host stores, then the agent,
// then the wire protocol, then the collector and its views, with the
// command line on top — so the tree keeps showing the architecture.
package archtest
