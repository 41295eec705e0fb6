// Package javatest lays out Java runtimes under a sandbox root, the way
// Debian and a vendor JDK put them on disk, and finds the real JDK tools
// (keytool, java) installed on the machine. Tests of the java adapter and
// the demo use it; nothing in the product imports it.
//
// The layouts:
//
//   - DebianJDK17: /etc/ssl/certs/java/cacerts as a JKS (password
//     "changeit", aliases "debian:*.pem"), copied from the host's when it has
//     one, and /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts as an
//     absolute symlink to it, as openjdk-17-jre-headless ships it.
//   - JDK25: /usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts as the
//     JDK ≥ 18 password-less PKCS12 (aliases "name [jdk]"), copied from the
//     host's when it is one, else built from the same certificates.
//   - JDK8: /usr/lib/jvm/jdk8/jre/lib/security/cacerts, a JKS of its own.
//
// Nothing here writes outside the root it is given, and the host's
// keystores are only read.
package javatest
