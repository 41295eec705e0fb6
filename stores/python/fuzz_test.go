package python

import "testing"

func FuzzCondaSSLVerify(f *testing.F) {
	f.Add([]byte("channels:\n  - defaults\nssl_verify: /etc/corp/ca.pem  # corp\n"))
	f.Add([]byte("ssl_verify: 'C:\\corp\\ca.pem'\nssl_verify: false\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, ok := CondaSSLVerify(data); ok && (v == "" || v == "true" || v == "false") {
			t.Fatalf("%q reported as a file", v)
		}
	})
}

func FuzzRedirectDetection(f *testing.F) {
	f.Add([]byte("DEBIAN_CA_CERTS_PATH = '/etc/ssl/certs/ca-certificates.crt'\n\ndef where() -> str:\n    return DEBIAN_CA_CERTS_PATH\n"))
	f.Add([]byte("if x:\n    def where():\n        return _P\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whereRE.FindAllSubmatchIndex(data, -1)
		anyWhereRE.FindAllIndex(data, -1)
	})
}
