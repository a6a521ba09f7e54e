package ferry_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/verify"
)

// TestVerification: every combination of origin and proxy policy through an
// https proxy tunnel, asserting IsVerified, IsProxyVerified and the error type.
func TestVerification(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	pin := verify.FingerprintOf(w.leaf.Leaf)
	wrongPin := "sha256/" + pin[2:] + "00"
	trusted := &tls.Config{RootCAs: w.ca.Pool()}
	cases := []struct {
		name                    string
		origin, proxy           verify.Policy
		originTLS, proxyTLS     *tls.Config
		wantVerified, wantProxy bool
		wantErr                 string // "", "origin-cert", "proxy-cert", "origin-pin", "proxy-pin"
	}{
		{name: "both-verified", originTLS: trusted, proxyTLS: trusted, wantVerified: true, wantProxy: true},
		{name: "origin-insecure-proxy-verified", origin: verify.Policy{InsecureSkipVerify: true}, proxyTLS: trusted, wantProxy: true},
		{name: "proxy-insecure-origin-verified", originTLS: trusted, proxy: verify.Policy{InsecureSkipVerify: true}, wantVerified: true},
		{name: "origin-insecure-does-not-loosen-proxy", originTLS: &tls.Config{InsecureSkipVerify: true}, wantErr: "proxy-cert"},
		{name: "origin-untrusted", proxyTLS: trusted, wantErr: "origin-cert"},
		{name: "proxy-untrusted", originTLS: trusted, wantErr: "proxy-cert"},
		{name: "both-pinned-private-ca", origin: verify.Policy{Fingerprint: pin}, proxy: verify.Policy{Fingerprint: pin}, wantVerified: true, wantProxy: true},
		{name: "origin-pin-mismatch", origin: verify.Policy{Fingerprint: wrongPin}, proxyTLS: trusted, wantErr: "origin-pin"},
		{name: "proxy-pin-mismatch", originTLS: trusted, proxy: verify.Policy{Fingerprint: wrongPin}, wantErr: "proxy-pin"},
		{name: "assert-hostname-mismatch", origin: verify.Policy{AssertHostname: "elsewhere.test"}, originTLS: trusted, proxyTLS: trusted, wantErr: "origin-cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &ferry.Transport{Proxy: http.ProxyURL(w.tlsProxy.URL()), TLSClientConfig: tc.originTLS, ProxyTLSClientConfig: tc.proxyTLS,
				OriginVerify: tc.origin, ProxyVerify: tc.proxy}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL)
			got := ""
			var pe *ferry.ProxyError
			var cve *tls.CertificateVerificationError
			var pme *verify.PinMismatchError
			switch {
			case err == nil:
			case errors.As(err, &pe) && errors.As(err, &pme):
				got = "proxy-pin"
			case errors.As(err, &pe) && errors.As(err, &cve):
				got = "proxy-cert"
			case errors.As(err, &pme):
				got = "origin-pin"
			case errors.As(err, &cve):
				got = "origin-cert"
			default:
				got = "other: " + err.Error()
			}
			if got != tc.wantErr {
				t.Fatalf("error %q (%v), want %q", got, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			info, _ := ferry.ConnInfoOf(resp)
			if diff := cmp.Diff([2]bool{tc.wantVerified, tc.wantProxy}, [2]bool{info.IsVerified, info.IsProxyVerified}); diff != "" {
				t.Errorf("[IsVerified IsProxyVerified] (-want +got):\n%s", diff)
			}
			if info.ProxyTLS == nil || resp.TLS == nil {
				t.Errorf("ProxyTLS %v, resp.TLS %v: want both", info.ProxyTLS, resp.TLS)
			}
		})
	}
}

// TestOnUnverifiedConn: called once per new unverified connection, and can
// refuse it.
func TestOnUnverifiedConn(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	var calls []ferry.ConnInfo
	tr := &ferry.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		OnUnverifiedConn: func(i ferry.ConnInfo) error {
			calls = append(calls, i)
			return nil
		},
	}
	for i := 0; i < 3; i++ {
		resp, err := tr.RoundTrip(mustGet(t, w.tlsOrigin.URL))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if len(calls) != 1 || calls[0].IsVerified {
		t.Errorf("calls: %+v, want one, unverified", calls)
	}
	refuse := errors.New("no unverified TLS here")
	strict := &ferry.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, OnUnverifiedConn: func(ferry.ConnInfo) error { return refuse }}
	if _, err := strict.RoundTrip(mustGet(t, w.tlsOrigin.URL)); !errors.Is(err, refuse) {
		t.Errorf("err = %v, want the hook's", err)
	}
	verified := &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}, OnUnverifiedConn: func(ferry.ConnInfo) error { return refuse }}
	resp, err := verified.RoundTrip(mustGet(t, w.tlsOrigin.URL))
	if err != nil {
		t.Fatalf("verified connection refused: %v", err)
	}
	resp.Body.Close()
}

// TestOnUnverifiedConnForwarding: with UseForwardingForHTTPS, http:// and
// https:// requests share the connection to the proxy, so the hook's verdict
// must depend on that connection's TLS alone, never on which request opened
// it. Through a verified proxy it is not called (urllib3 does not warn when
// proxy_is_verified); through an unverified one it refuses every request.
// Both orders: the https:// request first, and the http:// one first.
func TestOnUnverifiedConnForwarding(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	refuse := errors.New("refused by the hook")
	targets := map[string]string{"http": w.httpOrigin.URL, "https": w.tlsOrigin.URL}
	cases := []struct {
		name      string
		proxyOK   bool
		order     []string
		want      []string
		wantCalls int
	}{
		{"verified-proxy/https-first", true, []string{"https", "http", "https"}, []string{"https 200", "http 200", "https 200"}, 0},
		{"verified-proxy/http-first", true, []string{"http", "https", "http"}, []string{"http 200", "https 200", "http 200"}, 0},
		{"unverified-proxy/https-first", false, []string{"https", "http"}, []string{"https refused", "http refused"}, 2},
		{"unverified-proxy/http-first", false, []string{"http", "https"}, []string{"http refused", "https refused"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			tr := &ferry.Transport{
				Proxy:                 http.ProxyURL(w.tlsProxy.URL()),
				UseForwardingForHTTPS: true,
				OnUnverifiedConn: func(ferry.ConnInfo) error {
					calls++
					return refuse
				},
			}
			if tc.proxyOK {
				tr.ProxyTLSClientConfig = &tls.Config{RootCAs: w.ca.Pool()}
			} else {
				tr.ProxyVerify = verify.Policy{InsecureSkipVerify: true}
			}
			t.Cleanup(tr.CloseIdleConnections)
			var got []string
			for _, scheme := range tc.order {
				resp, err := tr.RoundTrip(mustGet(t, targets[scheme]))
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					got = append(got, fmt.Sprintf("%s %d", scheme, resp.StatusCode))
				case errors.Is(err, refuse):
					got = append(got, scheme+" refused")
				default:
					t.Fatalf("%s: %v", scheme, err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if calls != tc.wantCalls {
				t.Errorf("hook called %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
}
