// Package apptest is test support for the application-store adapters:
// a hostile unprivileged user created for one test (useradd, removed in
// Cleanup) who plants files in their home, and helpers to run the real
// clients (python3, node, git, curl) against a local TLS server. Nothing
// in the shipped binary imports it.
package apptest
