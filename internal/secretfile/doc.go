// Package secretfile reads a file that holds a secret (an enroll secret,
// an API token, a database URL, keystore passwords) for the command line,
// `agent configure` and the package builders: one reader with one set of
// checks, so a secret is never read, or copied as root, from something
// other than the plain file the administrator named.
//
// Read opens and reads through stores/fsroot (the one safe open and
// bounded read): it refuses a symbolic link (a link planted where the
// path points would make root copy another file into the secret),
// anything but a regular file, checked on the open descriptor, which is
// opened without blocking (a FIFO or device would block or never end), a
// file with more than one hard link (Unix; Windows does not report the
// count) and one over the size bound, also when it grows while read. Its errors wrap the
// sentinels below and never hold the file's content. ReadResolved, for
// secrets named on a command line, first resolves links (container
// platforms mount secrets as links) and then applies every check to the
// file reached.
package secretfile
