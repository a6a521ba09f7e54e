package pac_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dop251/goja"

	"github.com/ferryhttp/ferry/pac"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// TestChromiumScripts runs Chromium's PAC resolver test scripts
// (testdata/chromium, BSD) with the environment each expects and checks
// Chromium's expected answer. pac_library_unittest.js checks the helper
// functions itself and answers "PROXY success:80" only when all pass.
func TestChromiumScripts(t *testing.T) {
	everything := &fakeResolver{all: "127.0.0.1"}
	cases := []struct {
		file   string
		opts   pac.Options
		target string
		want   string
	}{
		{"pac_library_unittest.js", pac.Options{}, "http://example.test/", "PROXY success:80"},
		{"bindings.js", pac.Options{Resolver: everything}, "http://example.test/", "DIRECT"},
		{"dns_fail.js", pac.Options{}, "http://example.test/", "PROXY success:80"},
		{"direct.js", pac.Options{}, "http://example.test/", "DIRECT"},
		{"ends_with_comment.js", pac.Options{}, "http://example.test/", "PROXY success:80"},
		{"binding_from_global.js", pac.Options{}, "http://example.test/", "PROXY 127.0.0.1:80"},
		{"binding_from_global.js", pac.Options{MyAddrs: myAddrs("10.0.0.5")}, "http://example.test/", "PROXY 10.0.0.5:80"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("172.16.1.2")}, "http://example.test/", "PROXY a:80"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("192.168.1.2")}, "http://10.1.2.3/", "PROXY b:80"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("192.168.1.2")}, "https://10.1.2.3/", "DIRECT"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("192.168.1.2")}, "http://foo.bar.baz.com/", "PROXY c:100"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("192.168.1.2")}, "http://unknown.test/", "PROXY c:100"},
		{"simple.js", pac.Options{MyAddrs: myAddrs("192.168.1.2"), Resolver: &fakeResolver{names: map[string][]string{"known.test": {"192.0.2.7"}}}}, "http://known.test/", "DIRECT"},
	}
	for _, c := range cases {
		t.Run(c.file+" "+c.target, func(t *testing.T) {
			s := newScript(t, string(readData(t, "chromium/"+c.file)), c.opts)
			got, err := s.FindProxy(context.Background(), mustURL(t, c.target))
			if err != nil || got != c.want {
				t.Errorf("FindProxy = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestChromiumSideEffects: a runtime keeps the script's globals between
// calls (Chromium's side_effects.js counts up).
func TestChromiumSideEffects(t *testing.T) {
	s := newScript(t, string(readData(t, "chromium/side_effects.js")), pac.Options{Runtimes: 1, CacheTTL: -1})
	for _, want := range []string{"PROXY sideffect_0", "PROXY sideffect_1", "PROXY sideffect_2"} {
		got, err := s.FindProxy(context.Background(), mustURL(t, "http://example.test/"))
		if err != nil || got != want {
			t.Errorf("FindProxy = %q, %v; want %q", got, err, want)
		}
	}
}

// TestChromiumBadScripts: the scripts Chromium refuses, each with a clear error.
func TestChromiumBadScripts(t *testing.T) {
	cases := []struct {
		file  string
		check func(newErr, findErr error) bool
	}{
		{"missing_close_brace.js", func(err, _ error) bool {
			var se *pac.ScriptError
			return errors.As(err, &se) && se.Phase == "compile"
		}},
		{"no_entrypoint.js", func(err, _ error) bool { return errors.Is(err, pac.ErrNoEntryPoint) }},
		{"return_empty_string.js", func(_, err error) bool { return errors.Is(err, proxyconfig.ErrNoUsableProxy) }},
		{"return_integer.js", func(_, err error) bool { return errors.Is(err, pac.ErrBadResult) }},
		{"return_null.js", func(_, err error) bool { return errors.Is(err, pac.ErrBadResult) }},
		{"unhandled_exception.js", func(_, err error) bool {
			var ex *goja.Exception
			return errors.As(err, &ex)
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			s, newErr := pac.New(readData(t, "chromium/"+c.file), pac.Options{Resolver: &fakeResolver{}, MyAddrs: noAddrs})
			var findErr error
			if newErr == nil {
				_, findErr = s.FindProxy(context.Background(), mustURL(t, "http://example.test/"))
			}
			if !c.check(newErr, findErr) {
				t.Errorf("New: %v; FindProxy: %v", newErr, findErr)
			}
		})
	}
}

// TestFindProxyForURLEx: when a script defines Microsoft's
// FindProxyForURLEx, it is called instead of FindProxyForURL.
func TestFindProxyForURLEx(t *testing.T) {
	s := newScript(t, `
		function FindProxyForURL(url, host) { return "PROXY classic:1"; }
		function FindProxyForURLEx(url, host) { return "PROXY ex:1; " + (isResolvableEx(host) ? "DIRECT" : "PROXY unresolved:1"); }`,
		pac.Options{Resolver: &fakeResolver{names: map[string][]string{"v6.test": {"2001:db8::1"}}}})
	for target, want := range map[string]string{"http://v6.test/": "PROXY ex:1; DIRECT", "http://none.test/": "PROXY ex:1; PROXY unresolved:1"} {
		if got, err := s.FindProxy(context.Background(), mustURL(t, target)); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", target, got, err, want)
		}
	}
}

// TestAndroidScripts runs AOSP chromium-libpac's test scripts
// (testdata/android) with the answers Android's tests expect.
// passthrough.js echoes what the script was given, which shows the
// privacy rule with a third party's script: an https URL arrives without
// its path.
func TestAndroidScripts(t *testing.T) {
	cases := []struct{ file, target, want string }{
		{"passthrough.js", "http://query.com/path", "PROXY http.query.com.path.query.com:80"},
		{"passthrough.js", "https://query.com/path?secret=1", "PROXY https.query.com.query.com:80"},
		{"string_functions.js", "http://example.test/", "DIRECT"},
		{"b_132073833.js", "http://example.test/", "DIRECT"},
		{"b_139806216.js", "http://example.test/", "DIRECT"},
		{"b_147664838.js", "http://example.test/", "DIRECT"},
	}
	for _, c := range cases {
		t.Run(c.file+" "+c.target, func(t *testing.T) {
			s := newScript(t, string(readData(t, "android/"+c.file)), pac.Options{})
			got, err := s.FindProxy(context.Background(), mustURL(t, c.target))
			if err != nil || got != c.want {
				t.Errorf("FindProxy = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
