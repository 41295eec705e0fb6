// Package java is the trust-store adapter for Java runtimes: the cacerts
// keystore of every JDK/JRE under the root, in JKS or PKCS12 format.
//
// Discovery looks under usr/lib/jvm/*, usr/java/*, opt/* and opt/*/*, the
// Windows Program Files vendors (Java, Eclipse Adoptium, Microsoft, Amazon
// Corretto, Zulu) and macOS /Library/Java/JavaVirtualMachines, at both the
// JDK 8 layout (jre/lib/security/cacerts) and the later one
// (lib/security/cacerts), plus the distribution files
// etc/ssl/certs/java/cacerts (Debian, JKS) and
// etc/pki/ca-trust/extracted/java/cacerts (RHEL). Symlinks are resolved
// inside the root, so the one file Debian links every JDK to is one store
// (id "java:" + resolved path) whose Info.App names every runtime using it.
//
// The format is sniffed from the bytes: JKS (magic FEEDFEED) is read and
// written with github.com/pavlo-v-chernykh/keystore-go/v4; PKCS12 (a DER
// SEQUENCE) is read with a small bag walker in this package (go-pkcs12 can
// decode a trust store's certificates but not their aliases, and Vendor and
// labels need the aliases) and written with software.sslmate.com/src/go-pkcs12
// (Passwordless for the JDK ≥ 18 password-less trust stores, Modern2023 or
// LegacyDES otherwise). JCEKS and anything else are reported with a Note.
// Nothing runs keytool at run time.
//
// Keystores are opened without following a link and without blocking,
// checked and bounded on the open descriptor. A runtime in a directory a
// user controls is that user's store, read and written with their
// identity (fsroot.AsUser) and only when the keystore is theirs outright;
// discovery does not follow a user's cacerts link to a keystore they do
// not own.
//
// Passwords: Env.JavaPasswords[path inside root] (the resolved path or any
// runtime's path to it), else "changeit"; a PKCS12 store also opens with the
// empty password. A wrong password is an error naming the
// --java-password flag, and the file is left alone.
//
// Trust: every JKS trustedCertEntry and every PKCS12 certificate bag that
// carries Java's trusted-usage attribute (2.16.840.1.113894.746875.1.1) is
// a trust anchor for JSSE. PKCS12 certificate bags without that attribute
// and the certificates of private-key entries are listed with
// TrustedServerAuth false. A keystore cannot restrict purposes: JSSE
// trusts an anchor for everything (the PKCS12 attribute's usage OID is not
// enforced), so trusted entries are reported with purpose "any" and the
// store with Info.CannotRestrict (never overtrusted; the audit detail says
// so). Distrust in Java is removal: the store is no stores.Distruster, and
// the agent takes every copy of a distrusted CA out. Aliases ending in " [jdk]" (the JDK's own
// cacerts) and starting with "debian:" (Debian's ca-certificates-java) are
// Vendor.
//
// Writes keep every entry that is not ours (aliases, creation dates, private
// keys of JKS stores) and the password and protection of the file. A PKCS12
// store holding something go-pkcs12 cannot write back (private keys, secret
// keys, plain certificate bags, unknown attributes) is refused rather than
// rewritten lossily. Every write is atomic (temporary file in the same
// directory, fsync, rename, mode and owner kept) and survives a concurrent
// keytool; see update.go for how.
package java
