package ferry_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// envRow is one row of the environment table in docs/ecosystem.md: the
// variables, a request URL, and the proxy ferry picks ("" for none, "error"
// when the request fails, "invalid" when it fails with an
// *proxyconfig.InvalidProxyURLError).
type envRow struct {
	row    string // the row of the documented table
	env    proxyconfig.Env
	target string
	want   string
}

func (r envRow) String() string {
	var vars []string
	for _, v := range []struct{ k, v string }{
		{"HTTP_PROXY", r.env.HTTPProxy}, {"HTTPS_PROXY", r.env.HTTPSProxy},
		{"ALL_PROXY", r.env.AllProxy}, {"NO_PROXY", r.env.NoProxy},
	} {
		if v.v != "" {
			vars = append(vars, fmt.Sprintf("%s=%q", v.k, v.v))
		}
	}
	if r.env.CGI {
		vars = append(vars, "REQUEST_METHOD=GET")
	}
	return fmt.Sprintf("%s [%s] %s", r.row, strings.Join(vars, " "), r.target)
}

var envTable = []envRow{
	// Scheme selection.
	{"scheme", proxyconfig.Env{HTTPProxy: "http://hp:1"}, "http://example.com/", "http://hp:1"},
	{"scheme", proxyconfig.Env{HTTPProxy: "http://hp:1"}, "https://example.com/", ""},
	{"scheme", proxyconfig.Env{HTTPSProxy: "http://sp:2"}, "https://example.com/", "http://sp:2"},
	{"scheme", proxyconfig.Env{HTTPSProxy: "http://sp:2"}, "http://example.com/", ""},
	{"scheme", proxyconfig.Env{HTTPSProxy: "https://sp:2"}, "https://example.com/", "https://sp:2"},
	// A value without a scheme is http://.
	{"no-scheme", proxyconfig.Env{HTTPProxy: "hp:1"}, "http://example.com/", "http://hp:1"},
	{"no-scheme", proxyconfig.Env{HTTPSProxy: "[::1]:3128"}, "https://example.com/", "http://[::1]:3128"},
	// ALL_PROXY fills in for both schemes, and yields to the specific one.
	{"all-proxy", proxyconfig.Env{AllProxy: "http://ap:3"}, "http://example.com/", "http://ap:3"},
	{"all-proxy", proxyconfig.Env{AllProxy: "http://ap:3"}, "https://example.com/", "http://ap:3"},
	{"all-proxy", proxyconfig.Env{AllProxy: "socks5h://ap:1080"}, "https://example.com/", "socks5h://ap:1080"},
	{"all-proxy", proxyconfig.Env{AllProxy: "http://ap:3", HTTPSProxy: "http://sp:2"}, "https://example.com/", "http://sp:2"},
	{"all-proxy", proxyconfig.Env{AllProxy: "http://ap:3", HTTPSProxy: "http://sp:2"}, "http://example.com/", "http://ap:3"},
	{"all-proxy", proxyconfig.Env{AllProxy: "http://ap:3", NoProxy: "example.com"}, "https://example.com/", ""},
	// NO_PROXY names: a bare name matches itself and its subdomains.
	{"no-proxy-name", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com"}, "http://example.com/", ""},
	{"no-proxy-name", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com"}, "http://a.b.example.com/", ""},
	{"no-proxy-name", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com"}, "http://notexample.com/", "http://hp:1"},
	{"no-proxy-name", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "EXAMPLE.com"}, "http://www.Example.COM/", ""},
	{"no-proxy-name", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: " a.test , ,example.com "}, "http://example.com/", ""},
	// Leading dot and "*.": subdomains only, not the name itself.
	{"no-proxy-dot", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: ".example.com"}, "http://www.example.com/", ""},
	{"no-proxy-dot", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: ".example.com"}, "http://example.com/", "http://hp:1"},
	{"no-proxy-dot", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "*.example.com"}, "http://www.example.com/", ""},
	{"no-proxy-dot", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "*.example.com"}, "http://example.com/", "http://hp:1"},
	// Ports: an entry with a port matches that port only; the URL's default counts.
	{"no-proxy-port", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com:8080"}, "http://example.com:8080/", ""},
	{"no-proxy-port", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com:8080"}, "http://example.com/", "http://hp:1"},
	{"no-proxy-port", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "example.com:80"}, "http://example.com/", ""},
	{"no-proxy-port", proxyconfig.Env{HTTPSProxy: "sp:2", NoProxy: "10.1.2.3:443"}, "https://10.1.2.3/", ""},
	{"no-proxy-port", proxyconfig.Env{HTTPSProxy: "sp:2", NoProxy: "[2001:db8::1]:443"}, "https://[2001:db8::1]/", ""},
	// IP addresses and CIDRs match IP literals in the URL, never names.
	{"no-proxy-cidr", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "10.0.0.0/8"}, "http://10.1.2.3/", ""},
	{"no-proxy-cidr", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "10.0.0.0/8"}, "http://11.1.2.3/", "http://hp:1"},
	{"no-proxy-cidr", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "2001:db8::/32"}, "http://[2001:db8::5]/", ""},
	{"no-proxy-cidr", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "192.168.0.1"}, "http://192.168.0.1:8080/", ""},
	{"no-proxy-cidr", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "10.0.0.0/8"}, "http://ten.internal/", "http://hp:1"},
	// "*" alone turns proxies off.
	{"no-proxy-star", proxyconfig.Env{HTTPProxy: "hp:1", HTTPSProxy: "sp:2", NoProxy: "*"}, "https://example.com/", ""},
	{"no-proxy-star", proxyconfig.Env{HTTPProxy: "hp:1", NoProxy: "a.test,*"}, "http://example.com/", ""},
	// Loopback is never proxied, whatever NO_PROXY says; other names under
	// localhost are.
	{"loopback", proxyconfig.Env{HTTPProxy: "hp:1"}, "http://localhost:8080/", ""},
	{"loopback", proxyconfig.Env{HTTPProxy: "hp:1"}, "http://127.0.0.1/", ""},
	{"loopback", proxyconfig.Env{HTTPProxy: "hp:1"}, "http://127.9.9.9/", ""},
	{"loopback", proxyconfig.Env{HTTPSProxy: "sp:2"}, "https://[::1]:8443/", ""},
	{"loopback", proxyconfig.Env{HTTPProxy: "hp:1"}, "http://app.localhost/", "http://hp:1"},
	// CGI (REQUEST_METHOD set): HTTP_PROXY may come from the client's Proxy:
	// header (httpoxy), so http:// requests fail instead of using it.
	// HTTPS_PROXY and ALL_PROXY cannot be set that way: https:// still uses
	// them, and ALL_PROXY is not used for http:// in CGI.
	{"cgi", proxyconfig.Env{HTTPProxy: "hp:1", CGI: true}, "http://example.com/", "error"},
	{"cgi", proxyconfig.Env{HTTPProxy: "hp:1", HTTPSProxy: "sp:2", CGI: true}, "https://example.com/", "http://sp:2"},
	{"cgi", proxyconfig.Env{AllProxy: "ap:3", CGI: true}, "http://example.com/", ""},
	{"cgi", proxyconfig.Env{AllProxy: "ap:3", CGI: true}, "https://example.com/", "http://ap:3"},
	// A value that is not a usable proxy fails the request; it is not skipped.
	{"bad-value", proxyconfig.Env{HTTPProxy: "ftp://hp:1"}, "http://example.com/", "invalid"},
	{"bad-value", proxyconfig.Env{HTTPProxy: "http://hp:99999"}, "http://example.com/", "invalid"},
	{"bad-value", proxyconfig.Env{HTTPProxy: "http://hp:1/path"}, "http://example.com/", "invalid"},
}

func pick(f func(*url.URL) (*url.URL, error), target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "bad target: " + err.Error()
	}
	p, err := f(u)
	switch {
	case errors.As(err, new(*proxyconfig.InvalidProxyURLError)):
		return "invalid"
	case err != nil:
		return "error"
	case p == nil:
		return ""
	}
	return p.String()
}

// TestEnvTable checks each row of the documented environment table through
// proxyconfig.Env, the engine behind ProxyFromEnvironment.
func TestEnvTable(t *testing.T) {
	t.Parallel()
	for _, r := range envTable {
		if got := pick(r.env.ProxyFunc(), r.target); got != r.want {
			t.Errorf("%v: proxy %q, want %q", r, got, r.want)
		}
	}
}

// TestEnvVariableNames: upper case wins over lower case when both are set
// (as net/http; curl and Python prefer lower case), and either alone works.
func TestEnvVariableNames(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
	t.Setenv("HTTP_PROXY", "upper:1")
	t.Setenv("http_proxy", "lower:1")
	t.Setenv("https_proxy", "lower:2")
	t.Setenv("all_proxy", "socks5://lower:3")
	t.Setenv("no_proxy", "skip.test")
	t.Setenv("REQUEST_METHOD", "GET")
	want := proxyconfig.Env{HTTPProxy: "upper:1", HTTPSProxy: "lower:2", AllProxy: "socks5://lower:3", NoProxy: "skip.test", CGI: true}
	if diff := cmp.Diff(want, proxyconfig.FromEnvironment()); diff != "" {
		t.Errorf("FromEnvironment (-want +got):\n%s", diff)
	}
}

// TestProxyFromEnvironment runs the package-level function in a child
// process, since it reads the environment once per process: the variables
// it sees, the proxies it picks, and that a later change is not seen.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("FERRY_ENV_CHILD") == "1" {
		envChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1")
	cmd.Env = []string{"FERRY_ENV_CHILD=1",
		"HTTP_PROXY=http://hp:1", "https_proxy=sp:2", "ALL_PROXY=socks5h://ap:1080", "NO_PROXY=.internal,10.0.0.0/8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(line, "PICK "); ok {
			got = append(got, s)
		}
	}
	want := []string{
		"http://example.com/ -> http://hp:1",
		"https://example.com/ -> http://sp:2",
		"http://db.internal/ -> ",
		"https://10.2.3.4/ -> ",
		"http://127.0.0.1:8080/ -> ",
		"after changing HTTP_PROXY: http://example.com/ -> http://hp:1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProxyFromEnvironment (-want +got):\n%s\nchild output:\n%s", diff, out)
	}
}

func envChild() {
	get := func(target string) string {
		req, _ := http.NewRequest("GET", target, nil)
		p, err := ferry.ProxyFromEnvironment(req)
		switch {
		case err != nil:
			return "error: " + err.Error()
		case p == nil:
			return ""
		}
		return p.String()
	}
	for _, target := range []string{"http://example.com/", "https://example.com/", "http://db.internal/", "https://10.2.3.4/", "http://127.0.0.1:8080/"} {
		fmt.Printf("PICK %s -> %s\n", target, get(target))
	}
	os.Setenv("HTTP_PROXY", "http://changed:9")
	fmt.Printf("PICK after changing HTTP_PROXY: %s -> %s\n", "http://example.com/", get("http://example.com/"))
}
