package pac_test

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferryhttp/ferry/pac"
)

// fakeResolver answers from its table only; with all set, every name
// (even "") resolves to it. It records the names asked, so a test can show
// that nothing reached a resolver it did not expect to. The system resolver
// never sees a test name.
type fakeResolver struct {
	names map[string][]string
	all   string

	mu    sync.Mutex
	asked []string
}

func (r *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	list := r.names[host]
	if r.all != "" {
		list = []string{r.all}
	}
	if len(list) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(list))
	for i, s := range list {
		out[i] = net.IPAddr{IP: net.ParseIP(s)}
	}
	return out, nil
}

func (r *fakeResolver) Asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.asked...)
}

func myAddrs(list ...string) func(context.Context) ([]netip.Addr, error) {
	return func(context.Context) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range list {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

func noAddrs(context.Context) ([]netip.Addr, error) { return nil, &net.DNSError{Err: "no address"} }

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func readData(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newScript compiles src with a resolver that knows nothing unless opts has
// one: no test reaches the system resolver.
func newScript(t testing.TB, src string, opts pac.Options) *pac.Script {
	t.Helper()
	if opts.Resolver == nil {
		opts.Resolver = &fakeResolver{}
	}
	if opts.MyAddrs == nil {
		opts.MyAddrs = noAddrs
	}
	s, err := pac.New([]byte(src), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFakeResolver shows the harness's resolver answers only what it knows.
func TestFakeResolver(t *testing.T) {
	r := &fakeResolver{names: map[string][]string{"a.test": {"10.0.0.1"}}}
	if got, err := r.LookupIPAddr(context.Background(), "a.test"); err != nil || got[0].IP.String() != "10.0.0.1" {
		t.Errorf("a.test: %v, %v", got, err)
	}
	if _, err := r.LookupIPAddr(context.Background(), "b.test"); err == nil {
		t.Error("b.test resolved")
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
