package pac_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/pac"
)

// TestBadScripts: each bad script gives a clear error, and within the
// deadline (with a wide margin for a loaded machine).
func TestBadScripts(t *testing.T) {
	const deadline = 200 * time.Millisecond
	fn := func(body string) string { return "function FindProxyForURL(url, host) {" + body + "}" }
	cases := []struct {
		name  string
		src   string
		check func(error) bool
	}{
		{"syntax error", "function FindProxyForURL(url, host) { return 'DIRECT' ", isPhase("compile")},
		{"no entry point", "var x = 1;", is(pac.ErrNoEntryPoint)},
		{"endless loop", fn("while (true) {}"), is(pac.ErrTimeout)},
		{"endless loop at top level", "for (;;) {}\n" + fn("return 'DIRECT'"), is(pac.ErrTimeout)},
		{"slow builtin", fn(slowBuiltin + "; return 'DIRECT'"), is(pac.ErrTimeout)},
		{"throw", fn("throw new Error('boom')"), func(err error) bool {
			var ex *goja.Exception
			return errors.As(err, &ex) && strings.Contains(err.Error(), "boom")
		}},
		{"non-string result", fn("return 42"), is(pac.ErrBadResult)},
		{"undefined result", fn("return"), is(pac.ErrBadResult)},
		{"non-ASCII result", fn("return 'PROXY pr\u00f6xy:80'"), is(pac.ErrBadResult)},
		{"2 MiB script", fn("return 'DIRECT'") + "//" + strings.Repeat("x", 2<<20), is(pac.ErrScriptTooLarge)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s, err := pac.New([]byte(c.src), pac.Options{Timeout: deadline, Resolver: &fakeResolver{}, MyAddrs: noAddrs})
			if err == nil {
				_, err = s.FindProxy(context.Background(), mustURL(t, "http://example.test/"))
			}
			if elapsed := time.Since(start); elapsed > deadline+2*time.Second {
				t.Errorf("took %v; the deadline is %v", elapsed, deadline)
			}
			if err == nil || !c.check(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func isPhase(phase string) func(error) bool {
	return func(err error) bool {
		var se *pac.ScriptError
		return errors.As(err, &se) && se.Phase == phase
	}
}

// TestStuckEvaluationsDoNotBlockOthers: while a builtin keeps one
// evaluation running past its deadline, other targets are answered; once
// MaxStuck evaluations are stuck, new ones fail at once (cached answers
// still flow); when they finish, evaluation works again.
func TestStuckEvaluationsDoNotBlockOthers(t *testing.T) {
	src := `function FindProxyForURL(url, host) {
		if (shExpMatch(host, "slow*")) { ` + slowBuiltin + ` }
		return "PROXY " + host + ":3128";
	}`
	s := newScript(t, src, pac.Options{Timeout: 300 * time.Millisecond, Runtimes: 3, MaxStuck: 2})
	ctx := context.Background()
	ask := func(host string) error {
		got, err := s.FindProxy(ctx, mustURL(t, "http://"+host+"/"))
		if err == nil && got != "PROXY "+host+":3128" {
			return fmt.Errorf("%s: answer %q", host, got)
		}
		return err
	}
	if err := ask("cached.test"); err != nil {
		t.Fatal(err)
	}

	// Two slow evaluations at once, and fast ones beside them.
	var wg sync.WaitGroup
	slowErrs := make([]error, 2)
	for i := range slowErrs {
		wg.Add(1)
		go func() { defer wg.Done(); slowErrs[i] = ask(fmt.Sprintf("slow%d.test", i)) }()
	}
	for i := range 5 {
		if err := ask(fmt.Sprintf("fast%d.test", i)); err != nil && !errors.Is(err, pac.ErrTooManyStuck) {
			t.Errorf("fast evaluation beside slow ones: %v", err)
		}
	}
	wg.Wait()
	for _, err := range slowErrs {
		if !errors.Is(err, pac.ErrTimeout) {
			t.Errorf("slow evaluation: %v, want ErrTimeout", err)
		}
	}
	// Both stuck evaluations are still running their builtin now.
	start := time.Now()
	err := ask("new.test")
	if !errors.Is(err, pac.ErrTooManyStuck) || time.Since(start) > time.Second {
		t.Errorf("with MaxStuck evaluations stuck: %v after %v, want ErrTooManyStuck at once", err, time.Since(start))
	}
	if err := ask("cached.test"); err != nil {
		t.Errorf("cached answer while evaluations are stuck: %v", err)
	}
	// They finish within seconds; then evaluation works again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ask("later.test")
		if err == nil {
			break
		}
		if !errors.Is(err, pac.ErrTooManyStuck) || time.Now().After(deadline) {
			t.Fatalf("after the stuck evaluations ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// capture is a slog handler that keeps the alert() messages.
type capture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "message" {
			c.mu.Lock()
			c.msgs = append(c.msgs, a.Value.String())
			c.mu.Unlock()
		}
		return true
	})
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }
func (c *capture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

// TestPrivacy: what the script sees of each URL (Chromium's rules), that
// loopback and link-local targets never reach it, and that a URL is data,
// never code.
func TestPrivacy(t *testing.T) {
	var logs capture
	src := `function FindProxyForURL(url, host) {
		alert(url + " " + host);
		return typeof injected === "undefined" ? "PROXY safe:1" : "PROXY pwned:1";
	}`
	s := newScript(t, src, pac.Options{Logger: slog.New(&logs), CacheTTL: -1})
	cases := []struct {
		target string
		seen   []string
		answer string
	}{
		{"https://user:secret@Host.Example.test:8443/private/path?token=1#frag", []string{"https://host.example.test:8443/ host.example.test"}, "PROXY safe:1"},
		{"https://example.test/a?b", []string{"https://example.test/ example.test"}, "PROXY safe:1"},
		{"http://user:secret@example.test/path?q=1#frag", []string{"http://example.test/path?q=1 example.test"}, "PROXY safe:1"},
		{`http://example.test/");injected=1;("`, []string{`http://example.test/%22%29;injected=1;%28%22 example.test`}, "PROXY safe:1"},
		{"http://localhost:8080/", nil, "DIRECT"},
		{"http://app.localhost/", nil, "DIRECT"},
		{"http://127.0.0.2/", nil, "DIRECT"},
		{"https://[::1]:8443/", nil, "DIRECT"},
		{"http://169.254.169.254/latest/meta-data", nil, "DIRECT"},
		{"http://[fe80::1%25eth0]/", nil, "DIRECT"},
		{"http://[::ffff:127.0.0.1]/", nil, "DIRECT"},
	}
	for _, c := range cases {
		got, err := s.FindProxy(context.Background(), mustURL(t, c.target))
		if err != nil || got != c.answer {
			t.Errorf("%s: %q, %v; want %q", c.target, got, err, c.answer)
		}
		if diff := cmp.Diff(c.seen, logs.take()); diff != "" {
			t.Errorf("%s: what the script saw (-want +got):\n%s", c.target, diff)
		}
	}
}

// TestCache: an answer is reused for the same URL as the script sees it,
// until CacheTTL passes on the injected clock.
func TestCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newScript(t, `var n = 0; function FindProxyForURL(url, host) { n++; return "PROXY p" + n + ":1"; }`,
		pac.Options{Now: clock, CacheTTL: time.Minute, Runtimes: 1})
	var got []string
	for _, step := range []struct {
		advance time.Duration
		target  string
	}{
		{0, "https://a.test/x"},
		{time.Second, "https://a.test/y?z"}, // same for the script: cached
		{0, "https://b.test/"},              // another host
		{0, "http://a.test/"},               // another scheme
		{time.Minute, "https://a.test/"},    // expired
	} {
		mu.Lock()
		now = now.Add(step.advance)
		mu.Unlock()
		a, err := s.FindProxy(context.Background(), mustURL(t, step.target))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	want := []string{"PROXY p1:1", "PROXY p1:1", "PROXY p2:1", "PROXY p3:1", "PROXY p4:1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// TestSharedProxyURL: targets answered with the same proxy get the same
// *url.URL, so that the Transport's pool-key cache (which compares
// pointers) hits across them, with or without the answer cache.
func TestSharedProxyURL(t *testing.T) {
	for _, ttl := range []time.Duration{0, -1} {
		s := newScript(t, `function FindProxyForURL(url, host) { return "PROXY proxy1:3128; DIRECT"; }`, pac.Options{CacheTTL: ttl})
		var first *url.URL
		for _, target := range []string{"http://a.test/", "https://b.test/", "http://a.test/other"} {
			_, routes, err := s.Decide(context.Background(), mustURL(t, target))
			if err != nil {
				t.Fatal(err)
			}
			if len(routes) != 2 || routes[0] == nil || routes[1] != nil {
				t.Fatalf("CacheTTL %v, %s: routes %v", ttl, target, routes)
			}
			if want := (url.URL{Scheme: "http", Host: "proxy1:3128"}); *routes[0] != want {
				t.Errorf("CacheTTL %v, %s: proxy %#v, want %#v", ttl, target, *routes[0], want)
			}
			if first == nil {
				first = routes[0]
			} else if routes[0] != first {
				t.Errorf("CacheTTL %v, %s: proxy %p, not the %p given before", ttl, target, routes[0], first)
			}
		}
	}
}

// TestConcurrent: many goroutines share a small pool of runtimes.
func TestConcurrent(t *testing.T) {
	s := newScript(t, `function FindProxyForURL(url, host) { return "PROXY " + host + ":1"; }`, pac.Options{Runtimes: 2, CacheTTL: -1})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				host := fmt.Sprintf("h%d-%d.test", i, j)
				got, err := s.FindProxy(context.Background(), mustURL(t, "http://"+host+"/"))
				if err != nil || got != "PROXY "+host+":1" {
					errs <- fmt.Errorf("%s: %q, %v", host, got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestLoadFileLimit: a file over 1 MiB is refused without reading it all.
func TestLoadFileLimit(t *testing.T) {
	path := t.TempDir() + "/big.pac"
	big := bytes.Repeat([]byte("/"), pac.MaxScriptSize+10)
	if err := writeFile(path, big); err != nil {
		t.Fatal(err)
	}
	if _, err := pac.LoadFile(path, pac.Options{}); !errors.Is(err, pac.ErrScriptTooLarge) {
		t.Errorf("err = %v, want ErrScriptTooLarge", err)
	}
}

// TestFailureCached: a script that times out for a host is not run again
// for that host until CacheTTL passes: one deadline per TTL, not per request.
func TestFailureCached(t *testing.T) {
	var logs capture
	s := newScript(t, `function FindProxyForURL(url, host) { alert("run " + host); while (true) {} }`,
		pac.Options{Timeout: 100 * time.Millisecond, Logger: slog.New(&logs)})
	for range 3 {
		if _, err := s.FindProxy(context.Background(), mustURL(t, "http://loop.test/")); !errors.Is(err, pac.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	}
	if diff := cmp.Diff([]string{"run loop.test"}, logs.take()); diff != "" {
		t.Errorf("evaluations (-want +got):\n%s", diff)
	}
}
