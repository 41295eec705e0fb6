// Package pkcs11 signs policies with a key that stays on a PKCS#11 token
// or HSM (SoftHSM, a YubiKey's PIV applet through OpenSC, a network HSM's
// module): Open returns a crypto.Signer that policy.SignWith and
// policy.Cosign use like an in-memory key.
//
// The module is loaded with github.com/ebitengine/purego (dlopen without
// cgo) and driven through its C_GetFunctionList table: C_Initialize,
// C_GetSlotList, C_GetTokenInfo, C_OpenSession, C_Login, C_FindObjects*,
// C_GetAttributeValue, C_SignInit, C_Sign, C_Logout, C_CloseSession,
// C_Finalize. Signatures are RSA PKCS#1 v1.5 (CKM_RSA_PKCS over a
// DigestInfo the package builds) and ECDSA (CKM_ECDSA over the digest,
// the raw r||s turned into ASN.1), so any hash Go asks for works.
//
// Build tag: purego makes a CGO_ENABLED=0 Linux binary dynamically linked
// (its fakecgo imports libc.so.6, libdl.so.2 and libpthread.so.0 and sets
// the ELF interpreter /lib64/ld-linux-x86-64.so.2). The agent binary must
// stay static (it runs on every host, Alpine's musl included), so the
// module code is compiled only with -tags pkcs11 (`make signer` builds
// bin/anchorwatch-signer, the build for the signing workstation); without
// the tag, and on Windows, Open returns ErrUnsupported saying so.
//
// Security: the module is shared code run in the signing process, so Open
// loads it only from an absolute path whose file and every directory up
// to / are owned by root (or the user running the signer) and writable by
// nobody else; the PIN comes from a file or the environment (ReadPIN),
// never from the command line, and never appears in an error.
package pkcs11
