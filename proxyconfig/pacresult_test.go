package proxyconfig_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/proxyconfig"
)

// routes renders a route list for comparison: URLs, "DIRECT" for nil.
func routes(l []*url.URL) []string {
	out := make([]string, len(l))
	for i, u := range l {
		if u == nil {
			out[i] = "DIRECT"
		} else {
			out[i] = u.String()
		}
	}
	return out
}

type pacCase struct {
	in   string
	want []string
}

func (c pacCase) String() string { return fmt.Sprintf("ParsePAC(%q)", c.in) }

func TestParsePAC(t *testing.T) {
	cases := []pacCase{
		{"DIRECT", []string{"DIRECT"}},
		{"PROXY proxy:3128", []string{"http://proxy:3128"}},
		{"PROXY a:3128; PROXY b:3128; DIRECT", []string{"http://a:3128", "http://b:3128", "DIRECT"}},
		{"HTTP a:8080", []string{"http://a:8080"}},
		{"HTTPS secure.example:8443", []string{"https://secure.example:8443"}},
		{"SOCKS5 s:1080", []string{"socks5h://s:1080"}},
		// Defaults when the port is left out.
		{"PROXY a; HTTPS b; SOCKS5 c", []string{"http://a:80", "https://b:443", "socks5h://c:1080"}},
		// Case, white space, empty entries and trailing semicolons.
		{"proxy a:1", []string{"http://a:1"}},
		{"  Proxy\tA.Example:1 ;;  direct ; ", []string{"http://a.example:1", "DIRECT"}},
		{"PROXY a:1;", []string{"http://a:1"}},
		{"\r\nPROXY   a:1\r\n", []string{"http://a:1"}},
		// IPv6 literals in brackets, with or without a port.
		{"PROXY [::1]:3128", []string{"http://[::1]:3128"}},
		{"HTTPS [2001:DB8::1]", []string{"https://[2001:db8::1]:443"}},
		{"PROXY 127.0.0.1:3128", []string{"http://127.0.0.1:3128"}},
		// SOCKS4 and unknown types are skipped while something is left.
		{"SOCKS s:1080; PROXY a:1", []string{"http://a:1"}},
		{"SOCKS4 s:1080; DIRECT", []string{"DIRECT"}},
		{"QUIC q:443; PROXY a:1", []string{"http://a:1"}},
		// Malformed entries are skipped.
		{"PROXY; PROXY a:0; PROXY a:99999; PROXY a:x; PROXY ::1; PROXY a b; DIRECT", []string{"DIRECT"}},
		{"PROXY u@h:1; PROXY h/x:1; PROXY [::1; PROXY [zz]:1; PROXY [::1]x; DIRECT x; DIRECT", []string{"DIRECT"}},
		// Repeats are kept once; leading zeros in a port are normalised.
		{"PROXY a:1; PROXY A:0001; DIRECT; DIRECT", []string{"http://a:1", "DIRECT"}},
	}
	for _, c := range cases {
		got, err := proxyconfig.ParsePAC(c.in)
		if err != nil {
			t.Errorf("%v: %v", c, err)
			continue
		}
		if diff := cmp.Diff(c.want, routes(got)); diff != "" {
			t.Errorf("%v (-want +got):\n%s", c, diff)
		}
	}
}

func TestParsePACNothingUsable(t *testing.T) {
	cases := []struct {
		in       string
		mentions string
	}{
		{"", ""},
		{" ; ;", ""},
		{"SOCKS s:1080", "SOCKS4 is not supported"},
		{"SOCKS4 s:1080; socks t", "SOCKS4 is not supported"},
		{"PROXY", "no host"},
		{"PROXY a:65536", "bad port"},
		{"FTP a:21", "unknown proxy type"},
		{"PROXY a:1:2", "brackets"},
		{"PROXY ex\u00e4mple:1", "bad host"},
	}
	for _, c := range cases {
		got, err := proxyconfig.ParsePAC(c.in)
		var pe *proxyconfig.PACResultError
		if got != nil || !errors.As(err, &pe) || !errors.Is(err, proxyconfig.ErrNoUsableProxy) {
			t.Errorf("ParsePAC(%q) = %v, %v; want a *PACResultError", c.in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), c.mentions) {
			t.Errorf("ParsePAC(%q): error %q does not say %q", c.in, err, c.mentions)
		}
	}
}

func TestParsePACBounded(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "PROXY p%d:1; ", i)
	}
	got, err := proxyconfig.ParsePAC(b.String())
	if err != nil || len(got) != proxyconfig.MaxPACEntries {
		t.Fatalf("got %d entries, %v; want %d", len(got), err, proxyconfig.MaxPACEntries)
	}
}

func TestFormatPAC(t *testing.T) {
	in := "PROXY a:1; HTTPS [::1]:443; SOCKS5 s:1080; DIRECT"
	l, err := proxyconfig.ParsePAC(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := proxyconfig.FormatPAC(l); got != in {
		t.Errorf("FormatPAC = %q, want %q", got, in)
	}
}

// FuzzParsePAC checks that ParsePAC never panics, returns only routes that
// Validate accepts with schemes ferry speaks, and that FormatPAC writes them
// back to a string that parses to the same routes.
func FuzzParsePAC(f *testing.F) {
	for _, s := range []string{
		"DIRECT", "PROXY a:3128; PROXY b:3128; DIRECT", "HTTPS [::1]:443", "SOCKS5 s", "SOCKS s:1",
		"  proxy\tA:1 ;;", "PROXY [fe80::1%eth0]:1", "PROXY a:+80", "PROXY [::ffff:1.2.3.4]:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := proxyconfig.ParsePAC(s)
		if err != nil {
			if !errors.Is(err, proxyconfig.ErrNoUsableProxy) || l != nil {
				t.Fatalf("ParsePAC(%q) = %v, %v", s, l, err)
			}
			return
		}
		if len(l) == 0 || len(l) > proxyconfig.MaxPACEntries {
			t.Fatalf("ParsePAC(%q): %d entries", s, len(l))
		}
		for _, u := range l {
			if u == nil {
				continue
			}
			if err := proxyconfig.Validate(u); err != nil {
				t.Fatalf("ParsePAC(%q) gave %v: %v", s, u, err)
			}
			if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5h" {
				t.Fatalf("ParsePAC(%q) gave scheme %q", s, u.Scheme)
			}
			if u.User != nil || u.Port() == "" {
				t.Fatalf("ParsePAC(%q) gave %v", s, u)
			}
		}
		again, err := proxyconfig.ParsePAC(proxyconfig.FormatPAC(l))
		if err != nil {
			t.Fatalf("reparse of %q: %v", proxyconfig.FormatPAC(l), err)
		}
		if diff := cmp.Diff(routes(l), routes(again)); diff != "" {
			t.Fatalf("ParsePAC(%q) round trip (-first +second):\n%s", s, diff)
		}
	})
}
