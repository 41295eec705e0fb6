package probe

import (
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Exit codes the scripts use.
const (
	exitUntrusted = 2
	exitOther     = 3
)

// byExit reads the scripts' exit codes.
func byExit(code int, _ string) Outcome {
	switch code {
	case 0:
		return Trusted
	case exitUntrusted:
		return Untrusted
	}
	return Failed
}

// pythonScript uses requests when the environment has it (certifi, or
// REQUESTS_CA_BUNDLE), else urllib (the ssl module's default store, or
// SSL_CERT_FILE). Both honour the proxy variables.
const pythonScript = `import sys, ssl
url = sys.argv[1]
try:
    import requests
    lib = "requests"
except Exception:
    requests = None
    lib = "urllib"
try:
    if requests:
        requests.get(url, timeout=20)
    else:
        import urllib.request
        urllib.request.urlopen(url, timeout=20)
    print(lib + ": handshake verified")
    sys.exit(0)
except Exception as e:
    s = repr(e)
    if "CERTIFICATE_VERIFY_FAILED" in s or isinstance(e, ssl.SSLCertVerificationError):
        print(lib + ": " + s[:300])
        sys.exit(2)
    if type(e).__name__ == "HTTPError" or getattr(e, "response", None) is not None:
        print(lib + ": handshake verified (HTTP error after it)")
        sys.exit(0)
    print(lib + ": " + s[:300])
    sys.exit(3)
`

func pythonRuntime(p, name string) Runtime {
	return Runtime{Kind: stores.KindPython, Name: name, Path: p,
		command: func(url string) []string { return []string{"-E", "-c", pythonScript, url} },
		verdict: byExit}
}

// nodeScript makes an https.get, or through HTTPS_PROXY a CONNECT and a
// tls.connect (Node before 24 ignores the proxy variables).
const nodeScript = `const u = new URL(process.argv[1]);
const http = require("http"), https = require("https"), tls = require("tls");
const fail = e => {
  const c = String(e.code || "");
  console.log((c ? c + " " : "") + e.message);
  process.exit(/CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(c) ? 2 : 3);
};
const port = u.port || 443;
const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
const noProxy = (process.env.NO_PROXY || process.env.no_proxy || "").split(",").map(s => s.trim()).filter(Boolean);
if (proxy && !noProxy.some(h => u.hostname === h || u.hostname.endsWith("." + h.replace(/^\./, "")))) {
  const p = new URL(proxy);
  const req = http.request({ host: p.hostname, port: p.port || 80, method: "CONNECT", path: u.hostname + ":" + port });
  req.on("connect", (res, sock) => {
    if (res.statusCode !== 200) { console.log("proxy answered CONNECT with " + res.statusCode); process.exit(3); }
    const s = tls.connect({ socket: sock, servername: u.hostname }, () => { console.log("handshake verified (through the proxy)"); s.end(); process.exit(0); });
    s.on("error", fail);
  });
  req.on("error", fail);
  req.end();
} else {
  https.get(u, r => { r.resume(); console.log("handshake verified"); process.exit(0); }).on("error", fail);
}
`

func nodeRuntime(p string) Runtime {
	return Runtime{Kind: stores.KindNode, Name: "node", Path: p,
		command: func(url string) []string { return []string{"-e", nodeScript, url} },
		verdict: byExit}
}

// tool is a client found at a fixed place.
type tool struct {
	paths []string
	make  func(p string) Runtime
}

var tools = []tool{
	{[]string{"/usr/bin/git", "/usr/local/bin/git", "/opt/homebrew/bin/git", "/Program Files/Git/cmd/git.exe"}, func(p string) Runtime {
		return Runtime{Kind: stores.KindGit, Name: "git", Path: p,
			command: func(url string) []string { return []string{"ls-remote", url} },
			verdict: func(code int, out string) Outcome {
				l := strings.ToLower(out)
				switch {
				case code == 0:
					return Trusted
				case strings.Contains(l, "certificate verif") || strings.Contains(l, "ssl certificate problem") || strings.Contains(l, "certificate verify failed"):
					return Untrusted
				case strings.Contains(l, "not found") || strings.Contains(l, "not valid") || strings.Contains(l, "repository") || strings.Contains(l, "returned error"):
					return Trusted // the server answered after the handshake
				}
				return Failed
			}}
	}},
	{[]string{"/usr/bin/curl", "/usr/local/bin/curl", "/opt/homebrew/opt/curl/bin/curl", "/Windows/System32/curl.exe"}, func(p string) Runtime {
		return Runtime{Kind: stores.KindBundle, Name: "curl", Path: p,
			command: func(url string) []string { return []string{"-sS", "-o", "/dev/null", "--max-time", "20", url} },
			verdict: func(code int, _ string) Outcome {
				switch code {
				case 0:
					return Trusted
				case 35, 51, 58, 60, 77, 83, 90, 91:
					return Untrusted
				}
				return Failed
			}}
	}},
	{[]string{"/usr/bin/wget", "/usr/local/bin/wget"}, func(p string) Runtime {
		return Runtime{Kind: stores.KindBundle, Name: "wget", Path: p,
			command: func(url string) []string { return []string{"-q", "-O", "/dev/null", "--tries=1", "--timeout=20", url} },
			verdict: func(code int, _ string) Outcome {
				switch code {
				case 0, 8: // 8: the server answered with an error, after the handshake
					return Trusted
				case 5:
					return Untrusted
				}
				return Failed
			}}
	}},
}
