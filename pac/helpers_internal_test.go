package pac

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// tableResolver answers from a table; nothing else resolves.
type tableResolver map[string][]string

func (r tableResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if host == "slow.test" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var out []net.IPAddr
	for _, s := range r[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// evalIn runs JavaScript expressions on a runtime of a trivial script and
// returns each result as String(result).
func evalIn(t *testing.T, opts Options, exprs []string) []string {
	t.Helper()
	s, err := New([]byte(`function FindProxyForURL(u, h) { return "DIRECT"; }`), opts)
	if err != nil {
		t.Fatal(err)
	}
	rt := <-s.idle
	rt.ctx = context.Background()
	out := make([]string, len(exprs))
	for i, e := range exprs {
		v, err := rt.vm.RunString("String(" + e + ")")
		if err != nil {
			out[i] = "error: " + err.Error()
			continue
		}
		out[i] = v.String()
	}
	return out
}

func TestHelpers(t *testing.T) {
	opts := Options{
		Resolver: tableResolver{
			"intranet.test": {"10.1.2.3"},
			"dual.test":     {"2001:db8::5", "192.0.2.5"},
			"v6only.test":   {"2001:db8::6"},
		},
		MyAddrs: func(context.Context) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("2001:db8::99")}, nil
		},
		DNSTimeout: 50 * time.Millisecond,
	}
	cases := []struct{ expr, want string }{
		// shExpMatch: '?' is exactly one character, '*' any run; other
		// regular-expression characters are literal.
		{`shExpMatch("ab", "a?")`, "true"},
		{`shExpMatch("a", "a?")`, "false"},
		{`shExpMatch("abc", "a?")`, "false"},
		{`shExpMatch("http://x.test/a/b", "*/a/*")`, "true"},
		{`shExpMatch("a.b", "a.b")`, "true"},
		{`shExpMatch("axb", "a.b")`, "false"},
		{`shExpMatch("a+b", "a+b")`, "true"},
		{`shExpMatch("[x]", "[x]")`, "true"},
		{`shExpMatch("", "*")`, "true"},
		{`shExpMatch("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*a*a*c")`, "false"},
		{`dnsDomainIs("www.Example.test", ".example.test")`, "true"},
		{`localHostOrDomainIs("www", "www.example.test")`, "true"},
		{`localHostOrDomainIs("ww", "www.example.test")`, "false"},
		// DNS helpers use the injected resolver only.
		{`dnsResolve("intranet.test")`, "10.1.2.3"},
		{`dnsResolve("dual.test")`, "192.0.2.5"},
		{`dnsResolve("v6only.test")`, "null"},
		{`dnsResolve("nowhere.test")`, "null"},
		{`dnsResolve("slow.test")`, "null"}, // bounded by DNSTimeout
		{`isResolvable("intranet.test")`, "true"},
		{`isResolvable("v6only.test")`, "false"},
		{`isResolvableEx("v6only.test")`, "true"},
		{`dnsResolveEx("dual.test")`, "2001:db8::5;192.0.2.5"},
		{`dnsResolveEx("nowhere.test")`, ""},
		{`isInNet("intranet.test", "10.0.0.0", "255.0.0.0")`, "true"},
		{`isInNet("nowhere.test", "10.0.0.0", "255.0.0.0")`, "false"},
		{`isInNet("10.9.9.9", "10.0.0.0", "bad")`, "false"},
		{`isInNetEx("2001:db8::5", "2001:db8::/32")`, "true"},
		{`isInNetEx("2001:db9::5", "2001:db8::/32")`, "false"},
		{`myIpAddress()`, "192.0.2.99"},
		{`myIpAddressEx()`, "192.0.2.99;2001:db8::99"},
		{`getClientVersion()`, "1.0"},
		{`dnsDomainLevels("a.b.c")`, "2"},
		{`sortIpAddressList("10.0.0.2;2001:db8::1;10.0.0.1")`, "2001:db8::1;10.0.0.1;10.0.0.2"},
		{`weekdayRange("XYZ")`, "false"},
		{`dateRange()`, "false"},
		{`dateRange(1, "JAN", "FEB")`, "false"},
		{`timeRange(1, 2, 3)`, "false"},
	}
	var exprs []string
	for _, c := range cases {
		exprs = append(exprs, c.expr)
	}
	got := evalIn(t, opts, exprs)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got[i], c.want)
		}
	}
}

// TestDateHelpersClock: the date helpers read Options.Now through the
// script's Date, in local time or GMT.
func TestDateHelpersClock(t *testing.T) {
	loc := time.FixedZone("test", 0)
	// Friday 2027-12-31 23:30:15 UTC.
	at := time.Date(2027, 12, 31, 23, 30, 15, 0, loc)
	local := at.In(time.Local)
	opts := Options{Now: func() time.Time { return at }, Resolver: tableResolver{}}
	cases := []struct{ expr, want string }{
		{`weekdayRange("FRI", "GMT")`, "true"},
		{`weekdayRange("THU", "SAT", "GMT")`, "true"},
		{`weekdayRange("SAT", "THU", "GMT")`, "false"},
		{`weekdayRange("SAT", "FRI", "GMT")`, "true"}, // wraps through the week
		{`dateRange(31, "DEC", 2027, "GMT")`, "true"},
		{`dateRange("NOV", "FEB", "GMT")`, "true"}, // wraps through the year
		{`dateRange("FEB", "NOV", "GMT")`, "false"},
		{`dateRange(2027, "GMT")`, "true"},
		{`dateRange(2026, 2028, "GMT")`, "true"},
		{`timeRange(23, "GMT")`, "true"},
		{`timeRange(22, 2, "GMT")`, "true"}, // wraps through midnight
		{`timeRange(23, 30, 23, 31, "GMT")`, "true"},
		{`timeRange(23, 30, 16, 23, 59, 59, "GMT")`, "false"},
		{`timeRange(` + strconv.Itoa(local.Hour()) + `)`, "true"},
		{`dateRange(` + strconv.Itoa(local.Day()) + `)`, "true"},
	}
	var exprs []string
	for _, c := range cases {
		exprs = append(exprs, c.expr)
	}
	got := evalIn(t, opts, exprs)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s at %v = %s, want %s", c.expr, at, got[i], c.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"", "", true}, {"a", "", false}, {"", "?", false}, {"é", "?", true}, {"abc", "*c", true},
		{"abc", "a*b", false}, {"abcbc", "a*bc", true}, {"x", "**x**", true},
	} {
		if got := globMatch(c.s, c.p); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}
