package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
)

// TestHTTPServerTimeouts: the collector's http.Server bounds every phase
// of a connection and the header size, and logs its errors.
func TestHTTPServerTimeouts(t *testing.T) {
	hs := newHTTPServer(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, got := range map[string]any{
		"ReadHeaderTimeout": hs.ReadHeaderTimeout == ReadHeaderTimeout && ReadHeaderTimeout > 0,
		"ReadTimeout":       hs.ReadTimeout == ReadTimeout && ReadTimeout >= ReadHeaderTimeout,
		"WriteTimeout":      hs.WriteTimeout == WriteTimeout && WriteTimeout > api.PolicyWaitMax*7/6, // a wait is held up to 7/6 of its hold
		"IdleTimeout":       hs.IdleTimeout == IdleTimeout && IdleTimeout > 0,
		"MaxHeaderBytes":    hs.MaxHeaderBytes == MaxHeaderBytes && MaxHeaderBytes > 0,
		"ErrorLog":          hs.ErrorLog != nil,
	} {
		if got != true {
			t.Errorf("%s not set as the collector's", name)
		}
	}
}
