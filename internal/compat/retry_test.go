package compat_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/verify"
)

// retryClient is a go-retryablehttp client over tr with quick backoff.
func retryClient(tr *ferry.Transport, max int) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.HTTPClient.Transport = tr
	c.RetryWaitMin, c.RetryWaitMax, c.RetryMax = time.Millisecond, 5*time.Millisecond, max
	c.Logger = nil
	return c
}

// TestRetryableHTTP: a POST answered 503 twice is retried with its body
// replayed each time, on the same kept-alive connection (retryablehttp
// drains the 503 bodies), directly and through the proxy.
func TestRetryableHTTP(t *testing.T) {
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			var calls atomic.Int32
			l := newLab(t, "", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, "try later")
					return
				}
				io.WriteString(w, "finally")
			})
			o := l.origin(v)
			tr := l.transport(v)
			c := retryClient(tr, 3)
			resp, err := c.Post(o.URL+"/submit", "text/plain", strings.NewReader("the body"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "finally" {
				t.Errorf("body %q, want the third answer", b)
			}
			var bodies []string
			for _, s := range o.Received() {
				bodies = append(bodies, s.Method+" "+s.Body)
			}
			if diff := cmp.Diff([]string{"POST the body", "POST the body", "POST the body"}, bodies); diff != "" {
				t.Errorf("origin received (-want +got):\n%s", diff)
			}
			// ferry's connections: to the origin, or to the proxy (which may
			// open one upstream connection per forwarded request).
			conns, to := o.ConnCount(), "origin"
			if v.proxied {
				conns, to = l.proxy.Conns(), "proxy"
			}
			if conns != 1 {
				t.Errorf("%s accepted %d connections, want 1 (retries reuse the drained connection)", to, conns)
			}
			if diff := cmp.Diff(wantProxyRecords(v, o, "POST", "/submit", 3), l.proxyRecords()); diff != "" {
				t.Errorf("proxy received (-want +got):\n%s", diff)
			}
			if s := tr.PoolStats(); s.Open != 1 || s.Idle != 1 {
				t.Errorf("pool after success: %+v, want the one connection idle", s)
			}
		})
	}
}

// TestRetryableHTTPGivesUp: an origin that stays down gets RetryMax+1
// attempts; retryablehttp then closes the body and calls
// CloseIdleConnections, which leaves ferry's pool empty.
func TestRetryableHTTPGivesUp(t *testing.T) {
	l := newLab(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down")
	})
	tr := l.transport(via{})
	c := retryClient(tr, 2)
	resp, err := c.Get(l.plain.URL + "/down")
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error from an origin that stays down")
	}
	if !strings.Contains(err.Error(), "giving up after 3 attempt(s)") {
		t.Errorf("err = %v, want retryablehttp's giving-up error", err)
	}
	if n := len(l.plain.Received()); n != 3 {
		t.Errorf("origin got %d attempts, want 3", n)
	}
	if s := tr.PoolStats(); s.Open != 0 || s.Waits != 0 {
		t.Errorf("pool after giving up: %+v, want nothing open (no leaked connection)", s)
	}
}

// TestRetryableHTTPCertificateFailure: an untrusted origin certificate, or
// one that does not match the pinned fingerprint, is not retried.
// retryablehttp decides with a type assertion on the *url.Error's Err (not
// errors.As), so ferry must put the *tls.CertificateVerificationError there
// itself; also through a tunnel, where the failure is past the proxy and must
// not be a ProxyError.
func TestRetryableHTTPCertificateFailure(t *testing.T) {
	for _, v := range []via{{"direct-https", false, true}, {"tunnel-https", true, true}} {
		for _, failure := range []string{"untrusted", "pin-mismatch"} {
			t.Run(v.name+"/"+failure, func(t *testing.T) {
				l := newLab(t, "", nil)
				leaf := l.leaf
				if failure == "untrusted" {
					untrusted, err := testcert.NewCA("untrusted CA")
					if err != nil {
						t.Fatal(err)
					}
					if leaf, err = untrusted.LocalhostLeaf(); err != nil {
						t.Fatal(err)
					}
				}
				bad := newOrigin(t, &leaf, nil)
				bad.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes
				tr := l.transport(v)                             // trusts the lab's CA, not the untrusted one
				if failure == "pin-mismatch" {
					tr.OriginVerify = verify.Policy{Fingerprint: strings.Repeat("ab", 32)}
				}
				c := retryClient(tr, 3)
				var checked atomic.Int32
				c.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
					checked.Add(1)
					return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
				}
				_, err := c.Get(bad.URL + "/secret")
				if err == nil {
					t.Fatal("bad certificate accepted")
				}
				if n := checked.Load(); n != 1 {
					t.Errorf("CheckRetry ran %d times, want 1 (no retry)", n)
				}
				if n := bad.ConnCount(); n != 1 {
					t.Errorf("origin saw %d TLS attempts, want 1", n)
				}
				if n := len(bad.Received()); n != 0 {
					t.Errorf("origin received %d requests over an unverified connection", n)
				}
				// What retryablehttp sees: the error http.Client returned.
				ue, err := getURLError(tr, bad.URL)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := ue.Err.(*tls.CertificateVerificationError); !ok {
					t.Errorf("(*url.Error).Err is %T (%v), want *tls.CertificateVerificationError itself", ue.Err, ue.Err)
				}
				if errors.As(ue, new(*ferry.ProxyError)) {
					t.Errorf("origin certificate failure is a ProxyError: %v", ue)
				}
				if failure == "pin-mismatch" && !errors.As(ue, new(*verify.PinMismatchError)) {
					t.Errorf("pin mismatch: %v, want a *verify.PinMismatchError inside", ue)
				}
			})
		}
	}
}

// getURLError makes one request with a plain http.Client over tr and
// returns its *url.Error.
func getURLError(tr *ferry.Transport, u string) (*url.Error, error) {
	resp, err := (&http.Client{Transport: tr}).Get(u)
	if err == nil {
		resp.Body.Close()
		return nil, errors.New("request succeeded")
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return nil, err
	}
	return ue, nil
}
