package proxyconfig_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/proxyconfig"
)

func u(s string) *url.URL {
	if s == "" {
		return nil
	}
	x, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return x
}

type selectCase struct {
	proxy, target string
	forwarding    bool
	want          proxyconfig.Mode
}

func (c selectCase) String() string {
	return fmt.Sprintf("Select(proxy=%q, target=%q, forwarding=%v)", c.proxy, c.target, c.forwarding)
}

func TestSelect(t *testing.T) {
	D, F, T := proxyconfig.Direct, proxyconfig.Forward, proxyconfig.Tunnel
	cases := []selectCase{
		{"", "http://h/", false, D},
		{"", "https://h/", true, D},
		{"http://p:3128", "http://h/", false, F},
		{"http://p:3128", "https://h/", false, T},
		{"http://p:3128", "https://h/", true, T}, // never in clear text
		{"https://p", "http://h/", false, F},
		{"https://p", "http://h/", true, F},
		{"https://p", "https://h/", false, T},
		{"https://p", "https://h/", true, F},
		{"socks5://p", "http://h/", false, D},
		{"socks5h://p", "https://h/", true, D},
		{"HTTP://p", "HTTPS://h/", false, T},
	}
	for _, c := range cases {
		got, err := proxyconfig.Select(u(c.proxy), u(c.target), c.forwarding)
		if err != nil || got != c.want {
			t.Errorf("%v = %v, %v; want %v", c, got, err, c.want)
		}
	}
	for _, bad := range []selectCase{{"http://p", "ftp://h/", false, D}, {"ftp://p", "http://h/", false, D}} {
		if _, err := proxyconfig.Select(u(bad.proxy), u(bad.target), false); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestNeverClearText proves, for every Select input, that an https target is
// sent in clear text to nobody: it is tunnelled, direct, or forwarded only
// over TLS to an https proxy.
func TestNeverClearText(t *testing.T) {
	for _, ps := range []string{"", "http", "https", "socks5", "socks5h", "HTTP", "Https"} {
		for _, fwd := range []bool{false, true} {
			var proxy *url.URL
			if ps != "" {
				proxy = &url.URL{Scheme: ps, Host: "p:1"}
			}
			m, err := proxyconfig.Select(proxy, u("https://h/"), fwd)
			if err != nil {
				t.Fatal(err)
			}
			if m == proxyconfig.Forward && !strings.EqualFold(ps, "https") {
				t.Errorf("proxy %q forwarding=%v: https target forwarded over a clear-text hop", ps, fwd)
			}
		}
	}
}

func TestParseAndValidate(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "proxy:3128", want: "http://proxy:3128"},
		{in: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "[::1]:3128", want: "http://[::1]:3128"},
		{in: "https://u:p@proxy/", want: "https://u:p@proxy/"},
		{in: "socks5h://proxy:1080", want: "socks5h://proxy:1080"},
		{in: "ftp://proxy", wantErr: proxyconfig.ErrUnsupportedScheme},
		{in: "http://", wantErr: proxyconfig.ErrMissingHost},
		{in: "http://proxy:0", wantErr: proxyconfig.ErrBadPort},
		{in: "http://proxy:65536", wantErr: proxyconfig.ErrBadPort},
		{in: "http://proxy:abc", wantErr: proxyconfig.ErrBadPort},
		{in: "http://proxy/x", wantErr: proxyconfig.ErrPathOrQuery},
		{in: "http://proxy/?a=b", wantErr: proxyconfig.ErrPathOrQuery},
		{in: "http://proxy\r\n:80", wantErr: proxyconfig.ErrInvalidCharacter},
		{in: "http://pro\x00xy", wantErr: proxyconfig.ErrInvalidCharacter},
		{in: "http://user:hunter2@proxy:99999", wantErr: proxyconfig.ErrBadPort},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := proxyconfig.Parse(c.in)
			if c.wantErr != nil {
				var ie *proxyconfig.InvalidProxyURLError
				if !errors.Is(err, c.wantErr) || !errors.As(err, &ie) {
					t.Fatalf("err = %v, want %v as *InvalidProxyURLError", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Errorf("Parse = %v, %v; want %s", got, err, c.want)
			}
		})
	}
}

func TestAuthority(t *testing.T) {
	cases := []struct{ host, port, want string }{
		{"example.com", "443", "example.com:443"},
		{"127.0.0.1", "8443", "127.0.0.1:8443"},
		{"::1", "443", "[::1]:443"},
		{"[::1]", "443", "[::1]:443"},
		{"fe80::1%eth0", "443", "[fe80::1%25eth0]:443"},
	}
	for _, c := range cases {
		got, err := proxyconfig.Authority(c.host, c.port)
		if err != nil || got != c.want {
			t.Errorf("Authority(%q, %q) = %q, %v; want %q", c.host, c.port, got, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"", "443"}, {"h\r\nX: y", "443"}, {"h", "0"}, {"h", "44a"}, {"a/b", "80"}, {"u@h", "80"}, {"h h", "80"}, {"h", "+80"}} {
		if _, err := proxyconfig.Authority(bad[0], bad[1]); !errors.Is(err, proxyconfig.ErrInvalidTarget) {
			t.Errorf("Authority(%q, %q): err = %v, want ErrInvalidTarget", bad[0], bad[1], err)
		}
	}
}

func TestValidateHeaderAndBasicAuth(t *testing.T) {
	for _, h := range []http.Header{{"Bad Name": {"v"}}, {"X": {"a\rb"}}, {"X": {"a\nb"}}, {"X": {"a\x00b"}}} {
		var ie *proxyconfig.InvalidHeaderError
		if err := proxyconfig.ValidateHeader(h); !errors.As(err, &ie) || !errors.Is(err, proxyconfig.ErrInvalidHeader) {
			t.Errorf("ValidateHeader(%q) = %v", h, err)
		}
	}
	if err := proxyconfig.ValidateHeader(http.Header{"X-Ok": {"fine value\t"}}); err != nil {
		t.Error(err)
	}
	got := []string{}
	for _, s := range []string{"http://p", "http://alice@p", "http://alice:s3cret@p", "http://a%40b:p%3Aw@p"} {
		v, ok := proxyconfig.BasicAuth(u(s))
		got = append(got, fmt.Sprintf("%s %v", v, ok))
	}
	want := []string{" false", "Basic YWxpY2U6 true", "Basic YWxpY2U6czNjcmV0 true", "Basic YUBiOnA6dw== true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BasicAuth (-want +got):\n%s", diff)
	}
}

type envCase struct {
	env    proxyconfig.Env
	target string
	want   string
}

func (c envCase) String() string { return fmt.Sprintf("%+v -> %s", c.env, c.target) }

func TestEnvProxyFunc(t *testing.T) {
	cases := []envCase{
		{proxyconfig.Env{HTTPProxy: "hp:1"}, "http://example.com/", "http://hp:1"},
		{proxyconfig.Env{HTTPProxy: "hp:1"}, "https://example.com/", ""},
		{proxyconfig.Env{HTTPSProxy: "https://sp:2"}, "https://example.com/", "https://sp:2"},
		{proxyconfig.Env{AllProxy: "ap:3"}, "http://example.com/", "http://ap:3"},
		{proxyconfig.Env{AllProxy: "ap:3"}, "https://example.com/", "http://ap:3"},
		{proxyconfig.Env{AllProxy: "socks5h://ap:3", HTTPSProxy: "sp:2"}, "https://example.com/", "http://sp:2"},
		{proxyconfig.Env{AllProxy: "ap:3", NoProxy: "example.com"}, "http://example.com/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: ".example.com"}, "http://a.example.com/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: ".example.com"}, "http://example.org/", "http://hp:1"},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "*"}, "http://example.com/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "10.0.0.0/8"}, "http://10.1.2.3/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com:8080"}, "http://example.com:8080/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com:8080"}, "http://example.com/", "http://hp:1"},
		{proxyconfig.Env{HTTPProxy: "hp:1"}, "http://localhost/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1"}, "http://127.0.0.1:8080/", ""},
		{proxyconfig.Env{HTTPProxy: "hp:1"}, "http://[::1]/", ""},
	}
	for _, c := range cases {
		p, err := c.env.ProxyFunc()(u(c.target))
		got := ""
		if p != nil {
			got = p.String()
		}
		if err != nil || got != c.want {
			t.Errorf("%v: got %q, %v; want %q", c, got, err, c.want)
		}
	}
	// The CGI guard (httpoxy): HTTP_PROXY is refused with an error, and
	// ALL_PROXY does not sneak in for it.
	for _, e := range []proxyconfig.Env{{HTTPProxy: "hp:1", CGI: true}, {HTTPProxy: "hp:1", AllProxy: "ap:3", CGI: true}} {
		if p, err := e.ProxyFunc()(u("http://example.com/")); err == nil || p != nil {
			t.Errorf("%+v: got %v, %v; want the CGI error", e, p, err)
		}
	}
	if p, err := (proxyconfig.Env{AllProxy: "ap:3", CGI: true}).ProxyFunc()(u("http://example.com/")); err != nil || p != nil {
		t.Errorf("CGI with only ALL_PROXY: got %v, %v; want no proxy for http", p, err)
	}
	if _, err := (proxyconfig.Env{HTTPProxy: "ftp://x"}).ProxyFunc()(u("http://example.com/")); err == nil {
		t.Error("a bad proxy value gave no error at request time")
	}
}

func TestFromEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "upper:1")
	t.Setenv("http_proxy", "lower:1")
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "lower:2")
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "")
	t.Setenv("NO_PROXY", "a.test")
	t.Setenv("REQUEST_METHOD", "")
	want := proxyconfig.Env{HTTPProxy: "upper:1", HTTPSProxy: "lower:2", NoProxy: "a.test"}
	if diff := cmp.Diff(want, proxyconfig.FromEnvironment()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"proxy:3128", "http://u:p@[::1]:80/", "socks5h://h", "https://h:443", "http://h/x?y", "\r\n", "::::", "http://[fe80::1%25eth0]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := proxyconfig.Parse(s)
		if err != nil {
			return
		}
		str := p.String()
		if strings.ContainsAny(str, "\r\n\x00") {
			t.Fatalf("valid proxy URL with control characters: %q", str)
		}
		q, err := proxyconfig.Parse(str)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", str, err)
		}
		if q.Scheme != p.Scheme || q.Hostname() != p.Hostname() || q.Port() != p.Port() {
			t.Fatalf("round trip %q -> %q", str, q)
		}
	})
}

func FuzzAuthority(f *testing.F) {
	f.Add("example.com", "443")
	f.Add("::1", "80")
	f.Add("[::1]", "1")
	f.Add("h\r\n", "1")
	f.Fuzz(func(t *testing.T, host, port string) {
		a, err := proxyconfig.Authority(host, port)
		if err != nil {
			return
		}
		if strings.ContainsAny(a, "\r\n\x00 ") {
			t.Fatalf("Authority(%q, %q) = %q", host, port, a)
		}
		h, p, err := net.SplitHostPort(a)
		if err != nil || p != port {
			t.Fatalf("Authority(%q, %q) = %q does not split back: %v", host, port, a, err)
		}
		_ = h
	})
}

func FuzzValidateHeader(f *testing.F) {
	f.Add("X-A", "v")
	f.Add("X-A", "v\r\nInjected: 1")
	f.Fuzz(func(t *testing.T, k, v string) {
		if proxyconfig.ValidateHeader(http.Header{k: {v}}) == nil && strings.ContainsAny(k+v, "\r\n\x00") {
			t.Fatalf("accepted %q: %q", k, v)
		}
	})
}
