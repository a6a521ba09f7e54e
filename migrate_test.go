package ferry_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// fillFields sets every exported field of the struct v points to a non-zero
// value of its kind, and returns the names it set.
func fillFields(t *testing.T, v any) []string {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	var names []string
	for i := 0; i < rv.NumField(); i++ {
		f, sf := rv.Field(i), rv.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeOf(time.Duration(0)) {
				f.SetInt(int64(time.Duration(i+1) * time.Second))
			} else {
				f.SetInt(int64(i + 1))
			}
		case reflect.Uint16:
			f.SetUint(uint64(i + 1))
		case reflect.String:
			f.SetString("v")
		case reflect.Func:
			f.Set(reflect.MakeFunc(f.Type(), func(args []reflect.Value) []reflect.Value {
				out := make([]reflect.Value, f.Type().NumOut())
				for j := range out {
					out[j] = reflect.Zero(f.Type().Out(j))
				}
				return out
			}))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
			if p, ok := f.Interface().(*tls.Config); ok {
				p.ServerName = sf.Name
			}
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			if f.Type() == reflect.TypeOf(http.Header{}) {
				m.SetMapIndex(reflect.ValueOf("X-"+sf.Name), reflect.ValueOf([]string{"1"}))
			}
			f.Set(m)
		case reflect.Struct:
			// verify.Policy: set one field so a copy is visible.
			if ff := f.FieldByName("ServerName"); ff.IsValid() {
				ff.SetString(sf.Name)
			}
		default:
			t.Fatalf("fillFields: field %s of kind %s: teach the test", sf.Name, f.Kind())
		}
		names = append(names, sf.Name)
	}
	return names
}

// TestNewFromHTTPTransportCopiesEverything fills every field of an
// http.Transport and checks each applicable one arrives in ferry's. A field
// added to http.Transport later fails here until it is classified.
func TestNewFromHTTPTransportCopiesEverything(t *testing.T) {
	notApplicable := map[string]string{
		"TLSNextProto":      "HTTP/2",
		"ForceAttemptHTTP2": "HTTP/2",
		"HTTP2":             "HTTP/2",
		"Protocols":         "HTTP/2 and unencrypted HTTP/2",
		"Dial":              "wrapped into DialContext when DialContext is nil",
		"DialTLS":           "wrapped into DialTLSContext when DialTLSContext is nil",
	}
	src := &http.Transport{}
	names := fillFields(t, src)
	dst := ferry.NewFromHTTPTransport(src)
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for _, name := range names {
		if _, skip := notApplicable[name]; skip {
			continue
		}
		df := dv.FieldByName(name)
		if !df.IsValid() {
			t.Errorf("http.Transport.%s has no counterpart in ferry.Transport: copy it or list it as not applicable", name)
			continue
		}
		sfv := sv.FieldByName(name)
		switch sfv.Kind() {
		case reflect.Func:
			if df.IsNil() {
				t.Errorf("%s not copied", name)
			}
		case reflect.Pointer:
			if df.IsNil() || df.Interface().(*tls.Config).ServerName != name {
				t.Errorf("%s not copied", name)
			} else if df.Pointer() == sfv.Pointer() {
				t.Errorf("%s shared, want a clone", name)
			}
		case reflect.Map:
			if !reflect.DeepEqual(df.Interface(), sfv.Interface()) {
				t.Errorf("%s not copied", name)
			}
		default:
			if !reflect.DeepEqual(df.Interface(), sfv.Interface()) {
				t.Errorf("%s = %v, want %v", name, df.Interface(), sfv.Interface())
			}
		}
	}
	// The deprecated dialers are used when the Context forms are unset.
	called := false
	old := &http.Transport{Dial: func(n, a string) (net.Conn, error) { called = true; return nil, net.ErrClosed }}
	ferry.NewFromHTTPTransport(old).DialContext(context.Background(), "tcp", "x:1")
	if !called {
		t.Error("Dial not wrapped into DialContext")
	}
}

// TestCloneCopiesEverything: Clone copies every exported field and gets a
// pool of its own.
func TestCloneCopiesEverything(t *testing.T) {
	src := &ferry.Transport{}
	names := fillFields(t, src)
	src.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	cl := src.Clone()
	sv, cv := reflect.ValueOf(src).Elem(), reflect.ValueOf(cl).Elem()
	for _, name := range names {
		s, c := sv.FieldByName(name), cv.FieldByName(name)
		switch s.Kind() {
		case reflect.Func, reflect.Pointer:
			if c.IsNil() {
				t.Errorf("Clone dropped %s", name)
			}
		default:
			if !reflect.DeepEqual(s.Interface(), c.Interface()) {
				t.Errorf("Clone: %s = %v, want %v", name, c.Interface(), s.Interface())
			}
		}
	}
	o := newOrigin(t, nil, nil)
	a := &ferry.Transport{}
	b := a.Clone()
	for _, tr := range []*ferry.Transport{a, b} {
		resp, err := tr.RoundTrip(mustGet(t, o.URL))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if o.connCount() != 2 || a.PoolStats().Idle != 1 || b.PoolStats().Idle != 1 {
		t.Errorf("clones share a pool: conns %d, idle %d/%d", o.connCount(), a.PoolStats().Idle, b.PoolStats().Idle)
	}
	// http.Client.CloseIdleConnections reaches ferry.
	(&http.Client{Transport: a}).CloseIdleConnections()
	if a.PoolStats().Open != 0 {
		t.Error("http.Client.CloseIdleConnections did not reach the Transport")
	}
}

// TestRedirectAcrossModes: a redirect from an http origin to an https one
// switches from forward to tunnel mode on the same Transport; http.Client
// drops Authorization across hosts, and nothing of the proxy's leaks.
func TestRedirectAcrossModes(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	// Another host name (localhost, not 127.0.0.1): http.Client drops
	// Authorization only when the host changes.
	landing := strings.Replace(w.tlsOrigin.URL, "127.0.0.1", "localhost", 1)
	redirector := newOrigin(t, nil, func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, landing+"/landed", http.StatusFound)
	})
	tr := &ferry.Transport{
		Proxy:           http.ProxyURL(w.httpProxy.URLWithAuth("proxyuser", "proxypass")),
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
		ProxyHeader:     http.Header{"X-Proxy-Only": {"1"}},
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", redirector.URL+"/start", nil)
	req.Header.Set("Authorization", "Bearer origin-secret")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	info, _ := ferry.ConnInfoOf(resp)
	if resp.StatusCode != 200 || info.Mode != proxyconfig.Tunnel {
		t.Fatalf("final: %d %v, want 200 through a tunnel", resp.StatusCode, info.Mode)
	}
	var lines []string
	for _, r := range w.httpProxy.Requests() {
		lines = append(lines, r.Method+" "+r.Target)
	}
	want := []string{"GET " + redirector.URL + "/start", "CONNECT " + strings.TrimPrefix(landing, "https://")}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("proxy saw (-want +got):\n%s", diff)
	}
	landed := w.tlsOrigin.received()
	if len(landed) != 1 {
		t.Fatalf("https origin got %d requests", len(landed))
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "X-Proxy-Only"} {
		if v := landed[0].Header.Get(h); v != "" {
			t.Errorf("https origin got %s: %q", h, v)
		}
	}
}
