// Package testproxy is a tiny HTTP proxy for tests that takes CONNECT
// only: honest, it tunnels bytes to the target; with a MITM certificate
// it answers the CONNECT itself and terminates TLS with that
// certificate, as an intercepting proxy does. It counts what it saw.
package testproxy
