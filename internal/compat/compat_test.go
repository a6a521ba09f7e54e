package compat_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/oauth2"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// recorder is an origin that keeps what it received and answers with handle.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	header []http.Header
	bodies []string
}

func newRecorder(t *testing.T, cert *tls.Certificate, handle func(n int, w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.header = append(rec.header, r.Header.Clone())
		rec.bodies = append(rec.bodies, string(b))
		n := len(rec.header)
		rec.mu.Unlock()
		handle(n, w, r)
	}))
	if cert != nil {
		rec.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		rec.StartTLS()
	} else {
		rec.Start()
	}
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) seen() ([]http.Header, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.header...), append([]string(nil), r.bodies...)
}

func ok(n int, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

func startProxy(t *testing.T) *proxytest.Proxy {
	p, err := proxytest.New(proxytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestOtelHTTP(t *testing.T) {
	origin := newRecorder(t, nil, ok)
	p := startProxy(t)
	for _, viaProxy := range []bool{false, true} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		ft := &ferry.Transport{}
		if viaProxy {
			ft.Proxy = http.ProxyURL(p.URL())
		}
		client := &http.Client{Transport: otelhttp.NewTransport(ft, otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagation.TraceContext{}))}
		for i := 0; i < 2; i++ {
			resp, err := client.Get(origin.URL + "/traced")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if n := len(exp.GetSpans()); n != 2 {
			t.Errorf("proxy=%v: %d spans, want one client span per request", viaProxy, n)
		}
		hs, _ := origin.seen()
		if tp := hs[len(hs)-1].Get("Traceparent"); tp == "" {
			t.Errorf("proxy=%v: origin got no traceparent", viaProxy)
		}
		ft.CloseIdleConnections()
	}
	if n := len(p.Requests()); n != 2 {
		t.Errorf("proxy saw %d requests, want 2", n)
	}
}

func TestRetryableHTTP(t *testing.T) {
	flaky := newRecorder(t, nil, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "finally")
	})
	down := newRecorder(t, nil, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	ft := &ferry.Transport{}
	c := retryablehttp.NewClient()
	c.HTTPClient.Transport = ft
	c.RetryWaitMin, c.RetryWaitMax, c.RetryMax = time.Millisecond, 5*time.Millisecond, 2
	c.Logger = nil

	resp, err := c.Post(flaky.URL, "text/plain", bytes.NewReader([]byte("the body")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, bodies := flaky.seen()
	if string(b) != "finally" || len(bodies) != 3 || bodies[0] != "the body" || bodies[2] != "the body" {
		t.Errorf("got %q after %d attempts with bodies %q", b, len(bodies), bodies)
	}
	if _, err := c.Get(down.URL); err == nil {
		t.Error("no error from an origin that stays down")
	}
	if _, bodies := down.seen(); len(bodies) != 3 {
		t.Errorf("down origin got %d attempts, want 3", len(bodies))
	}
	ft.CloseIdleConnections()
	if s := ft.PoolStats(); s.Open != 0 {
		t.Errorf("connections left open: %+v", s)
	}

	// An untrusted origin certificate is not retried: retryablehttp looks
	// for *tls.CertificateVerificationError in the *url.Error.
	_, leaf := testcert.MustLocalhost("untrusted")
	attempts := 0
	bad := httptest.NewUnstartedServer(http.NotFoundHandler())
	bad.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	bad.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			attempts++
		}
	}
	bad.Config.ErrorLog = nil
	bad.StartTLS()
	defer bad.Close()
	if _, err := c.Get(bad.URL); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if attempts != 1 {
		t.Errorf("certificate failure retried: %d attempts", attempts)
	}
}

func TestOAuth2(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("oauth CA")
	plain := newRecorder(t, nil, ok)
	secure := newRecorder(t, &leaf, ok)
	p := startProxy(t)
	ft := &ferry.Transport{Proxy: http.ProxyURL(p.URL()), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	defer ft.CloseIdleConnections()
	client := &http.Client{Transport: &oauth2.Transport{Base: ft, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})}}
	for _, o := range []*recorder{plain, secure} {
		resp, err := client.Get(o.URL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		hs, _ := o.seen()
		if got := hs[0].Get("Authorization"); got != "Bearer tok" {
			t.Errorf("origin got Authorization %q", got)
		}
	}
	for _, r := range p.Requests() {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, "tok") && (r.Method == http.MethodConnect || strings.HasPrefix(k, "Proxy-")) {
					t.Errorf("proxy saw the token in %s %s: %s", r.Method, k, v)
				}
			}
		}
	}
}

const stsReply = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ferry</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

func TestAWSSDK(t *testing.T) {
	origin := newRecorder(t, nil, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, stsReply)
	})
	p := startProxy(t)
	for _, viaProxy := range []bool{false, true} {
		ft := &ferry.Transport{}
		if viaProxy {
			ft.Proxy = http.ProxyURL(p.URL())
		}
		client := sts.New(sts.Options{
			Region:       "us-east-1",
			Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
			BaseEndpoint: aws.String(origin.URL),
			HTTPClient:   &http.Client{Transport: ft},
		})
		out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("proxy=%v: %v", viaProxy, err)
		}
		if aws.ToString(out.Account) != "123456789012" {
			t.Errorf("account %q", aws.ToString(out.Account))
		}
		hs, _ := origin.seen()
		if a := hs[len(hs)-1].Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256") {
			t.Errorf("origin got Authorization %q", a)
		}
		ft.CloseIdleConnections()
	}
	if n := len(p.Requests()); n != 1 || p.Requests()[0].Method != "POST" {
		t.Errorf("proxy records: %+v", p.Requests())
	}
}
