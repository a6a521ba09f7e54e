package compat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBodyReadAfterEOF: a response body read to EOF keeps answering io.EOF
// until it is closed, as net/http's does. Code in the wild relies on it:
// the AWS SDK (smithy-go) drains a body after its XML decoder reached EOF,
// and the json.Decoder-then-io.Copy(io.Discard, body) idiom does the same.
//
// This was a bug: pool.Body answered every Read after EOF with "ferry: read
// on closed response body" before the caller closed it. Now reads after EOF
// keep returning io.EOF until Close, as in net/http.
func TestBodyReadAfterEOF(t *testing.T) {
	l := newLab(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	type result struct {
		Decoded      bool
		DrainErr     string
		ReadAgainErr string
	}
	run := func(rt http.RoundTripper) result {
		resp, err := (&http.Client{Transport: rt}).Get(l.plain.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ OK bool }
		var r result
		// Read everything, as the SDK's decoder does, then drain.
		b, _ := io.ReadAll(resp.Body)
		r.Decoded = json.Unmarshal(b, &v) == nil && v.OK
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			r.DrainErr = err.Error()
		}
		if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
			r.ReadAgainErr = err.Error()
		}
		return r
	}
	ht := &http.Transport{}
	defer ht.CloseIdleConnections()
	tr := l.transport(via{})
	defer tr.CloseIdleConnections()
	want, got := run(ht), run(tr)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after EOF (-nethttp +ferry):\n%s", diff)
	}
}
