package ferry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/origintest"
)

// slowBody is a request body that sends n chunks, one every gap.
type slowBody struct {
	n   int
	gap time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.gap)
	b.n--
	return copy(p, "chunk"), nil
}

// TestHTTP2ReadTimeoutUpload: over HTTP/2, ReadTimeout bounds the waits for
// the response, not the upload. A body sent slowly for longer than
// ReadTimeout arrives whole and is answered; a server that reads the whole
// body and then sends no header ends the stream with a ReadTimeout during
// the response header. A caller's own ClientTrace still sees WroteRequest.
func TestHTTP2ReadTimeoutUpload(t *testing.T) {
	w := newH2World(t, nil)
	o := origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, ReadBody: true, Handler: func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		io.WriteString(rw, "ok")
	}})
	tr := w.h2Transport(nil)
	tr.ReadTimeout = 300 * time.Millisecond
	defer tr.CloseIdleConnections()
	const chunks, gap = 6, 100 * time.Millisecond // 600 ms of upload, twice ReadTimeout

	var wrote atomic.Int32
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Add(1) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "POST", o.URL+"/slow", &slowBody{n: chunks, gap: gap})
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "ok" || resp.ProtoMajor != 2 {
		t.Errorf("slow upload: %q, %v, %s", body, err, resp.Proto)
	}
	if got := o.Received()[0].Body; got != strings.Repeat("chunk", chunks) {
		t.Errorf("origin got %q", got)
	}
	if wrote.Load() != 1 {
		t.Errorf("caller's WroteRequest ran %d times, want 1", wrote.Load())
	}

	req, _ = http.NewRequestWithContext(t.Context(), "POST", o.URL+"/stall", &slowBody{n: chunks, gap: gap})
	start := time.Now()
	_, err = tr.RoundTrip(req)
	wantTimeout(t, "stall after the upload", err, conn.TimeoutError{Op: "read", Stage: "response header", Setting: "ReadTimeout", Limit: tr.ReadTimeout})
	if el := time.Since(start); el < chunks*gap {
		t.Errorf("timed out after %v, before the upload of %v ended", el, chunks*gap)
	}
	if n := o.ConnCount(); n != 1 {
		t.Errorf("%d connections, want 1: a stream's timeout must not close its connection", n)
	}
}

// TestHTTP2RequestCancelWithReadTimeout: with ReadTimeout on, the caller's
// (deprecated) Request.Cancel still ends its stream, with no TimeoutError,
// and the connection goes on serving.
func TestHTTP2RequestCancelWithReadTimeout(t *testing.T) {
	srv := newRawH2(t, func(s *rawStream) {
		if s.path == "/hang" {
			return
		}
		s.ok()
	})
	tr := srv.transport()
	tr.ReadTimeout = 10 * time.Second
	defer tr.CloseIdleConnections()
	cancel := make(chan struct{})
	req, _ := http.NewRequest("GET", srv.url()+"/hang", nil)
	//lint:ignore SA1019 the test checks that the deprecated field still works
	req.Cancel = cancel
	time.AfterFunc(100*time.Millisecond, func() { close(cancel) })
	start := time.Now()
	_, err := tr.RoundTrip(req)
	var te *conn.TimeoutError
	if err == nil || errors.As(err, &te) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v, want a cancellation soon after 100ms", err, time.Since(start))
	}
	if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
		t.Errorf("next request: %q, %v", body, err)
	}
	if c := srv.conns.Load(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}
