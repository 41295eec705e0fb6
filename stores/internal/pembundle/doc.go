// Package pembundle reads and edits PEM certificate bundles the way the
// programs that load them do (OpenSSL's X509_STORE_load_file, Node's
// NODE_EXTRA_CA_CERTS, Go's AppendCertsFromPEM): every CERTIFICATE or
// TRUSTED CERTIFICATE block is a trust anchor, text between blocks is
// ignored, a block that does not decode breaks the file for its program
// and is an error here. Edits keep every byte they do not mean to change:
// Append adds a labelled block at the end, Remove cuts exactly the blocks
// (and the label lines Append wrote).
//
// A Cache parses each distinct content once: two hundred virtualenvs
// carrying the same certifi release cost one parse.
package pembundle
