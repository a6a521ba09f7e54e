package pac

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrScriptTooLarge: the script is larger than MaxScriptSize.
	ErrScriptTooLarge = errors.New("pac: script larger than 1 MiB")
	// ErrNoEntryPoint: the script defines neither FindProxyForURL nor FindProxyForURLEx.
	ErrNoEntryPoint = errors.New("pac: script has no FindProxyForURL function")
	// ErrTimeout: an evaluation did not finish within Options.Timeout.
	ErrTimeout = errors.New("pac: script did not finish in time")
	// ErrTooManyStuck: Options.MaxStuck timed-out evaluations are still running.
	ErrTooManyStuck = errors.New("pac: too many timed-out evaluations still running")
	// ErrBadResult: FindProxyForURL returned something other than an ASCII string.
	ErrBadResult = errors.New("pac: FindProxyForURL did not return an ASCII string")
	// ErrInsecureURL: LoadURL was given a URL that is not https.
	ErrInsecureURL = errors.New("pac: script URL must be https")
)

// ScriptError reports a script that failed: it did not compile, or it threw
// (Err holds goja's error), timed out, or returned a bad result.
type ScriptError struct {
	// Phase is "compile", "load" (the top level ran) or "FindProxyForURL".
	Phase string
	// URL is the URL the script was asked about, as it saw it ("" for compile/load).
	URL string
	Err error
}

func (e *ScriptError) Error() string {
	if e.URL != "" {
		return fmt.Sprintf("pac: %s(%q): %v", e.Phase, e.URL, e.Err)
	}
	return fmt.Sprintf("pac: %s: %v", e.Phase, e.Err)
}

// Unwrap returns the underlying error.
func (e *ScriptError) Unwrap() error { return e.Err }

// Script is a compiled PAC script, safe for concurrent use.
type Script struct {
	prog  *goja.Program
	entry string // FindProxyForURLEx when defined, else FindProxyForURL
	opts  Options

	idle  chan *runtime // runtimes ready for use
	slots chan struct{} // one token per runtime that exists (idle or busy)
	stuck atomic.Int32  // timed-out evaluations still running

	cacheMu sync.Mutex
	cache   map[string]cacheEntry // guarded by cacheMu
	proxies map[string]*url.URL   // one route per distinct proxy, by String(); guarded by cacheMu
}

type cacheEntry struct {
	answer string
	routes []*url.URL
	err    error
	until  time.Time
}

// maxCacheEntries bounds the answer cache, and the shared proxy URLs.
const maxCacheEntries = 1024

// New compiles src and runs its top level once, to check it. It fails with
// ErrScriptTooLarge, a *ScriptError for a syntax error or a failing top level,
// or ErrNoEntryPoint.
func New(src []byte, opts Options) (*Script, error) {
	if len(src) > MaxScriptSize {
		return nil, ErrScriptTooLarge
	}
	prog, err := goja.Compile("pac", string(src), false)
	if err != nil {
		return nil, &ScriptError{Phase: "compile", Err: err}
	}
	s := &Script{
		prog:    prog,
		opts:    opts,
		idle:    make(chan *runtime, opts.runtimes()),
		slots:   make(chan struct{}, opts.runtimes()),
		cache:   make(map[string]cacheEntry),
		proxies: make(map[string]*url.URL),
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout())
	defer cancel()
	s.slots <- struct{}{}
	rt, err := s.newRuntime(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case isFunction(rt.vm.Get("FindProxyForURLEx")):
		s.entry = "FindProxyForURLEx"
	case isFunction(rt.vm.Get("FindProxyForURL")):
		s.entry = "FindProxyForURL"
	default:
		<-s.slots
		return nil, ErrNoEntryPoint
	}
	s.idle <- rt
	return s, nil
}

func isFunction(v goja.Value) bool {
	_, ok := goja.AssertFunction(v)
	return ok
}

// LoadFile reads a script from a file and compiles it with New.
func LoadFile(path string, opts Options) (*Script, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pac: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("pac: reading %s: %w", path, err)
	}
	return New(src, opts)
}

// LoadURL fetches a script from an https URL with Options.HTTPClient and
// compiles it with New. Plain http is refused (ErrInsecureURL): whoever is
// on the path could rewrite where every request goes.
func LoadURL(ctx context.Context, rawURL string, opts Options) (*Script, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("pac: script URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: %s", ErrInsecureURL, u.Redacted())
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &ferry.Transport{}, Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("pac: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pac: fetching script: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pac: fetching script %s: %s", u.Redacted(), resp.Status)
	}
	src, err := io.ReadAll(io.LimitReader(resp.Body, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("pac: fetching script: %w", err)
	}
	return New(src, opts)
}

// Load loads a script from an https URL (LoadURL) or, for anything else that
// is not a URL, a file (LoadFile).
func Load(ctx context.Context, source string, opts Options) (*Script, error) {
	if strings.Contains(source, "://") {
		return LoadURL(ctx, source, opts)
	}
	return LoadFile(source, opts)
}

// ProxyList returns the routes for req, for ferry.Transport.ProxyList.
func (s *Script) ProxyList(req *http.Request) ([]*url.URL, error) {
	_, routes, err := s.Decide(req.Context(), req.URL)
	return routes, err
}

// FindProxy returns the script's answer for target, as a string
// ("PROXY a:3128; DIRECT"). Loopback and link-local targets get "DIRECT"
// without asking the script.
func (s *Script) FindProxy(ctx context.Context, target *url.URL) (string, error) {
	answer, _, err := s.Decide(ctx, target)
	return answer, err
}

// Decide returns the script's answer for target and the routes it names
// (proxyconfig.ParsePAC; nil for DIRECT). Loopback and link-local targets
// get "DIRECT" without asking the script. Answers, and failures, are cached
// for Options.CacheTTL.
func (s *Script) Decide(ctx context.Context, target *url.URL) (string, []*url.URL, error) {
	if target == nil || target.Host == "" {
		return "", nil, fmt.Errorf("pac: target URL has no host")
	}
	host := strings.ToLower(target.Hostname())
	if bypass(host) {
		return "DIRECT", []*url.URL{nil}, nil
	}
	seen := scriptURL(target)
	key := seen + " " + host
	ttl := s.opts.cacheTTL()
	if ttl > 0 {
		s.cacheMu.Lock()
		e, ok := s.cache[key]
		s.cacheMu.Unlock()
		if ok && s.opts.now().Before(e.until) {
			return e.answer, e.routes, e.err
		}
	}
	answer, err := s.evaluate(ctx, seen, host)
	var routes []*url.URL
	if err == nil {
		routes, err = proxyconfig.ParsePAC(answer)
		s.share(routes)
	}
	if ttl > 0 && ctx.Err() == nil && !errors.Is(err, ErrTooManyStuck) {
		s.store(key, cacheEntry{answer: answer, routes: routes, err: err, until: s.opts.now().Add(ttl)})
	}
	return answer, routes, err
}

func (s *Script) store(key string, e cacheEntry) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if len(s.cache) >= maxCacheEntries {
		now := s.opts.now()
		for k, old := range s.cache {
			if !now.Before(old.until) {
				delete(s.cache, k)
			}
		}
		// Still full: drop arbitrary entries (map order) to make room.
		for k := range s.cache {
			if len(s.cache) < maxCacheEntries {
				break
			}
			delete(s.cache, k)
		}
	}
	s.cache[key] = e
}

// share replaces each proxy in routes by the one *url.URL kept for that
// proxy. ParsePAC parses afresh for every cache entry (one per target), but
// the Transport's pool-key cache only hits when the same pointer comes back,
// so without this every target routed through one proxy would miss it. The
// URLs are equal by value (ParsePAC sets only Scheme and Host, which String
// writes unescaped) and nobody writes to them.
func (s *Script) share(routes []*url.URL) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	for i, u := range routes {
		if u == nil {
			continue
		}
		k := u.String()
		if p, ok := s.proxies[k]; ok {
			routes[i] = p
			continue
		}
		// Full: drop an arbitrary entry (map order) to make room.
		for old := range s.proxies {
			if len(s.proxies) < maxCacheEntries {
				break
			}
			delete(s.proxies, old)
		}
		s.proxies[k] = u
	}
}

// bypass reports the targets Chromium never asks the script about:
// localhost and *.localhost, loopback and link-local addresses. host is
// lower-case already (Decide lowers it once, for this and the script).
func bypass(host string) bool {
	h := strings.TrimSuffix(host, ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast()
}

// scriptURL is the URL the script is given: without credentials and
// fragment, and for https (and wss) without path and query either, which
// Chromium strips so that a PAC script cannot see secure URLs' contents.
func scriptURL(u *url.URL) string {
	c := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host)}
	switch c.Scheme {
	case "https", "wss":
		c.Path = "/"
	default:
		c.Path, c.RawPath, c.RawQuery = u.Path, u.RawPath, u.RawQuery
		if c.Path == "" {
			c.Path = "/"
		}
	}
	return c.String()
}

// evaluate calls the entry point with (url, host) on a runtime of the pool.
func (s *Script) evaluate(ctx context.Context, seen, host string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout())
	defer cancel()
	rt, err := s.get(ctx)
	if err != nil {
		var se *ScriptError
		if errors.As(err, &se) {
			return "", err
		}
		return "", &ScriptError{Phase: s.entry, URL: seen, Err: err}
	}
	var result goja.Value
	err = s.run(ctx, rt, func() error {
		fn, ok := goja.AssertFunction(rt.vm.Get(s.entry))
		if !ok {
			return ErrNoEntryPoint
		}
		// The URL and host are values passed to the function, never text
		// put into a script, so no URL can inject code.
		v, err := fn(goja.Undefined(), rt.vm.ToValue(seen), rt.vm.ToValue(host))
		result = v
		return err
	})
	if err != nil {
		return "", &ScriptError{Phase: s.entry, URL: seen, Err: err}
	}
	answer, ok := result.Export().(string)
	if !ok {
		return "", &ScriptError{Phase: s.entry, URL: seen, Err: fmt.Errorf("%w: got %s", ErrBadResult, describe(result))}
	}
	for i := 0; i < len(answer); i++ {
		if answer[i] >= 0x80 {
			return "", &ScriptError{Phase: s.entry, URL: seen, Err: fmt.Errorf("%w: non-ASCII character in %q", ErrBadResult, clip(answer))}
		}
	}
	return answer, nil
}

func describe(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	return fmt.Sprintf("%T", v.Export())
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
