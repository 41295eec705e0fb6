// Package appstore holds what the application-store adapters share:
//
//   - File, the Store on one PEM bundle file that a program reads as its
//     trust anchors (a certifi cacert.pem, a file pip's cert or Git's
//     http.sslCAInfo names, a bundle a program ships). Reads and writes go
//     through stores/fsroot: no symbolic link is followed, a
//     write in a user's directory runs as that user, every operation has
//     a deadline and a size bound.
//   - References: a configuration (pip.conf, .gitconfig, /etc/environment,
//     …) naming a file, resolved through symbolic links only where root
//     alone could have made them, grouped into one store per file, with
//     the system store's own bundle left to stores/system.
//   - The parsers those configurations need: INI-like files (pip.conf,
//     .npmrc, gitconfig, AWS and gcloud config), pam_env's
//     /etc/environment and systemd's environment.d, the users and homes of
//     /etc/passwd under the root.
//
// Every parser takes bounded input and is fuzzed.
package appstore
