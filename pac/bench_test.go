package pac_test

import (
	"context"
	"net/url"
	"testing"

	"golang.org/x/net/http/httpproxy"

	"github.com/ferryhttp/ferry/pac"
)

// corporatePAC is the shape of a typical corporate PAC file: plain names
// and internal domains direct, private networks direct, the rest through
// two proxies.
const corporatePAC = `function FindProxyForURL(url, host) {
	if (isPlainHostName(host) || dnsDomainIs(host, ".corp.test") || shExpMatch(host, "*.intranet.test"))
		return "DIRECT";
	if (isInNet(host, "10.0.0.0", "255.0.0.0") || isInNet(host, "192.168.0.0", "255.255.0.0"))
		return "DIRECT";
	if (shExpMatch(url, "http://*/downloads/*"))
		return "PROXY dl-proxy.corp.test:3128; DIRECT";
	return "PROXY proxy1.corp.test:3128; PROXY proxy2.corp.test:3128";
}`

// BenchmarkDecision: the cost of one proxy decision for a request. ferry's
// PAC decision uncached (the script runs) and cached (the answer for the
// same scheme://host:port is reused); nethttp is net/http's own decision
// from the environment's settings (httpproxy), which has no script.
func BenchmarkDecision(b *testing.B) {
	target, _ := url.Parse("https://www.example.test/some/path?q=1")
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ttl  int
	}{{"uncached", -1}, {"cached", 0}} {
		b.Run(c.name+"/ferry", func(b *testing.B) {
			opts := pac.Options{Resolver: &fakeResolver{names: map[string][]string{"www.example.test": {"203.0.113.5"}}}, MyAddrs: noAddrs}
			if c.ttl < 0 {
				opts.CacheTTL = -1
			}
			s, err := pac.New([]byte(corporatePAC), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Decide(ctx, target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("nethttp", func(b *testing.B) {
		pf := (&httpproxy.Config{HTTPProxy: "proxy1.corp.test:3128", HTTPSProxy: "proxy1.corp.test:3128", NoProxy: ".corp.test,10.0.0.0/8,192.168.0.0/16"}).ProxyFunc()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pf(target); err != nil {
				b.Fatal(err)
			}
		}
	})
}
