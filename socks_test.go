package ferry_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// TestSOCKS5: socks5h lets the proxy resolve names, socks5 resolves them
// here; user/password come from the URL; the mode is Direct (dialled through
// SOCKS) and TLS with an https target is ferry's; a refusal is a ProxyError.
func TestSOCKS5(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	s, err := proxytest.NewSOCKS5("sam", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	httpsLocal := strings.Replace(w.tlsOrigin.URL, "127.0.0.1", "localhost", 1)
	cases := []struct {
		scheme, target string
		wantTarget     string
		wantVerified   bool
	}{
		{"socks5h", w.httpOrigin.URL, strings.TrimPrefix(w.httpOrigin.URL, "http://"), false},
		{"socks5h", httpsLocal, strings.TrimPrefix(httpsLocal, "https://"), true},
		{"socks5", httpsLocal, strings.Replace(strings.TrimPrefix(httpsLocal, "https://"), "localhost", "127.0.0.1", 1), true},
	}
	for _, c := range cases {
		t.Run(c.scheme+" "+c.target, func(t *testing.T) {
			p := &url.URL{Scheme: c.scheme, Host: s.URL().Host, User: url.UserPassword("sam", "pw")}
			tr := &ferry.Transport{Proxy: http.ProxyURL(p), TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}}
			defer tr.CloseIdleConnections()
			before := len(s.Targets())
			for i := 0; i < 2; i++ {
				resp, err := (&http.Client{Transport: tr}).Get(c.target + "/s")
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				info, _ := ferry.ConnInfoOf(resp)
				if info.Mode != proxyconfig.Direct || info.IsVerified != c.wantVerified || resp.StatusCode != 200 {
					t.Errorf("status %d mode %v verified %v", resp.StatusCode, info.Mode, info.IsVerified)
				}
			}
			got := s.Targets()[before:]
			if diff := cmp.Diff([]string{c.wantTarget}, got); diff != "" {
				t.Errorf("SOCKS targets (one connection, reused) (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("bad-password", func(t *testing.T) {
		p := &url.URL{Scheme: "socks5h", Host: s.URL().Host, User: url.UserPassword("sam", "wrong")}
		_, err := (&http.Client{Transport: &ferry.Transport{Proxy: http.ProxyURL(p)}}).Get(w.httpOrigin.URL)
		var pe *ferry.ProxyError
		if !errors.As(err, &pe) || !pe.HasConnectedToProxy {
			t.Fatalf("err = %v, want *ProxyError after connecting", err)
		}
	})
}
