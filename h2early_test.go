package ferry_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/origintest"
)

// TestHTTP2EarlyResponse: an h2 server that answers 413 without reading an
// upload and resets the stream (RST_STREAM NO_ERROR, as Go's server and
// nginx do): the caller gets the 413, ConnInfo.WriteErr says the body was
// cut short, and the connection goes on serving.
func TestHTTP2EarlyResponse(t *testing.T) {
	w := newH2World(t, nil)
	o := origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, Handler: func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			http.Error(rw, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(rw, "ok")
	}})
	tr := w.h2Transport(nil)
	defer tr.CloseIdleConnections()
	for _, c := range []struct {
		name string
		body func() io.Reader
	}{
		{"large body", func() io.Reader { return bytes.NewReader(make([]byte, 8<<20)) }},
		{"endless body", func() io.Reader { pr, _ := io.Pipe(); return pr }},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "POST", o.URL+"/upload", c.body())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			info, _ := ferry.ConnInfoOf(resp)
			if resp.StatusCode != 413 || resp.ProtoMajor != 2 || !errors.Is(info.WriteErr, conn.ErrEarlyResponse) {
				t.Errorf("got %s %s, WriteErr %v; want HTTP/2.0 413 and ErrEarlyResponse", resp.Proto, resp.Status, info.WriteErr)
			}
			if err := getOK(tr, o.URL+"/next", nil); err != nil {
				t.Errorf("next request: %v", err)
			}
		})
	}
	if n := o.ConnCount(); n != 1 {
		t.Errorf("%d connections, want 1 (an early answer resets one stream, not the connection)", n)
	}
}

// TestHTTP2UploadWholeNoWriteErr: a body the server read whole leaves
// WriteErr nil.
func TestHTTP2UploadWholeNoWriteErr(t *testing.T) {
	w := newH2World(t, nil)
	o := origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, ReadBody: true})
	tr := w.h2Transport(nil)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", o.URL+"/u", bytes.NewReader(make([]byte, 1<<20)))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	info, _ := ferry.ConnInfoOf(resp)
	if info.WriteErr != nil || resp.ProtoMajor != 2 || len(o.Received()[0].Body) != 1<<20 {
		t.Errorf("WriteErr %v, proto %s, origin got %d bytes", info.WriteErr, resp.Proto, len(o.Received()[0].Body))
	}
}
