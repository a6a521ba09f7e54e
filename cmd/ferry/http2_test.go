package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhttp/ferry/internal/testcert"
)

// TestGetHTTP2: `ferry get --http2 -v` speaks h2 to an h2 origin and says
// so; without --http2 it stays HTTP/1.1.
func TestGetHTTP2(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("cli h2 CA")
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	origin.EnableHTTP2 = true
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	origin.StartTLS()
	defer origin.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args      []string
		body      string
		protoLine string
	}{
		{[]string{"--http2"}, "HTTP/2.0", "* protocol HTTP/2.0 (ALPN with the origin: h2)"},
		{nil, "HTTP/1.1", "* protocol HTTP/1.1 (ALPN with the origin: none)"},
	} {
		args := append([]string{"get", "-v", "--cacert", caFile, origin.URL}, c.args...)
		out, errOut, code := runBin(t, "", args...)
		if code != 0 || out != c.body || !strings.Contains(errOut, c.protoLine+"\n") {
			t.Errorf("%v: exit %d, body %q, stderr:\n%s\nwant body %q and %q", c.args, code, out, errOut, c.body, c.protoLine)
		}
	}
}

// TestDemoHTTP2Rows: the demo's h2 rows are HTTP/2 over one connection
// each, the proxies seeing one CONNECT for all the requests.
func TestDemoHTTP2Rows(t *testing.T) {
	out, errOut, code := runBin(t, "", "demo", "-json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.HTTP2) != 3 {
		t.Fatalf("%d h2 rows, want 3", len(rep.HTTP2))
	}
	for _, r := range rep.HTTP2 {
		if !r.OK || r.Protocols != "HTTP/2.0" || r.OriginConns != 1 || (r.Proxy != "none" && !strings.HasPrefix(r.ProxySaw, "CONNECT ")) || strings.Contains(r.ProxySaw, ",") {
			t.Errorf("row %+v", r)
		}
	}
}
