package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/internal/proxytest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once for the tests that run it as users do.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-cli-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ferry")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

func runBin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "HTTP_PROXY=", "HTTPS_PROXY=", "ALL_PROXY=", "http_proxy=", "https_proxy=", "all_proxy=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &o, &e, strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestParseGet(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    *getOptions
		wantURL string
		wantErr bool
	}{
		{name: "aliases-and-flags-after-url", args: []string{"http://h/", "-x", "http://p:3128", "--header", "A: 1", "-H", "B: 2", "--proxy-header=X-P: 3", "-k", "-v"},
			wantURL: "http://h/",
			want:    &getOptions{clientOptions: clientOptions{Proxy: "http://p:3128", Headers: []string{"A: 1", "B: 2"}, ProxyHeaders: []string{"X-P: 3"}, Insecure: true}, Verbose: true, MaxRedirs: 10}},
		{name: "long-forms", args: []string{"--proxy=http://p", "--request", "PUT", "--data", "@f", "--output", "o", "--fail", "--forward-https", "--include", "--location", "--max-redirs", "3", "--silent", "--show-error", "--proxy-insecure", "https://h/"},
			wantURL: "https://h/",
			want: &getOptions{clientOptions: clientOptions{Proxy: "http://p", Method: "PUT", Data: "@f", HasData: true, ForwardHTTPS: true, ProxyInsecure: true},
				Output: "o", Fail: true, Include: true, Location: true, MaxRedirs: 3, Silent: true, ShowError: true}},
		{name: "short-forms", args: []string{"-i", "-s", "-S", "-L", "-f", "-o", "out", "http://h/"},
			wantURL: "http://h/",
			want:    &getOptions{Include: true, Silent: true, ShowError: true, Location: true, Fail: true, Output: "out", MaxRedirs: 10}},
		{name: "timeouts", args: []string{"--connect-timeout", "2s", "--read-timeout", "3", "http://h/"},
			wantURL: "http://h/",
			want:    &getOptions{clientOptions: clientOptions{ConnectTimeout: 2e9, ReadTimeout: 3e9}, MaxRedirs: 10}},
		{name: "url-after-double-dash", args: []string{"-v", "--", "http://h/"}, wantURL: "http://h/", want: &getOptions{Verbose: true, MaxRedirs: 10}},
		{name: "proxy-auth", args: []string{"-U", `CORP\alice:s3:cret`, "--proxy-digest", "--proxy-ntlm", "http://h/"},
			wantURL: "http://h/",
			want:    &getOptions{clientOptions: clientOptions{ProxyAuth: proxyAuthOptions{User: `CORP\alice:s3:cret`, HasUser: true, Schemes: []string{"digest", "ntlm"}}}, MaxRedirs: 10}},
		{name: "proxy-anyauth", args: []string{"--proxy-user=u:p", "--proxy-anyauth", "http://h/"},
			wantURL: "http://h/",
			want:    &getOptions{clientOptions: clientOptions{ProxyAuth: proxyAuthOptions{User: "u:p", HasUser: true, Schemes: []string{"negotiate", "ntlm", "digest", "basic"}}}, MaxRedirs: 10}},
		{name: "empty-proxy-user", args: []string{"-U", "", "http://h/"}, wantErr: true},
		{name: "no-url", args: []string{"-v"}, wantErr: true},
		{name: "two-urls", args: []string{"http://a/", "http://b/"}, wantErr: true},
		{name: "unknown-flag", args: []string{"--nope", "http://a/"}, wantErr: true},
		{name: "missing-value", args: []string{"http://a/", "-x"}, wantErr: true},
		{name: "switch-with-value", args: []string{"--fail=yes", "http://a/"}, wantErr: true},
		{name: "bad-duration", args: []string{"--connect-timeout", "soon", "http://a/"}, wantErr: true},
		{name: "negative-duration", args: []string{"--read-timeout", "-1s", "http://a/"}, wantErr: true},
		{name: "max-redirs-out-of-range", args: []string{"--max-redirs", "5000", "http://a/"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, u, err := parseGet(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if u != tc.wantURL {
				t.Errorf("URL %q, want %q", u, tc.wantURL)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(getOptions{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestHelp checks -h and --help print every registered flag on standard
// output and exit 0, for each command.
func TestHelp(t *testing.T) {
	sets := map[string]*flagSet{
		"get":   (&getOptions{}).flagSet(),
		"bench": (&benchOptions{}).flagSet(),
		"serve": (&serveOptions{}).flagSet(),
	}
	for cmd, fs := range sets {
		for _, h := range []string{"-h", "--help"} {
			t.Run(cmd+h, func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := run(context.Background(), []string{cmd, h}, strings.NewReader(""), &out, &errOut)
				if code != exitOK || errOut.Len() != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut.String())
				}
				for _, f := range fs.flags {
					for _, n := range f.names {
						if !strings.Contains(out.String(), n) {
							t.Errorf("help lacks %s:\n%s", n, out.String())
						}
					}
				}
			})
		}
	}
}

func TestDemoJSON(t *testing.T) {
	out, errOut, code := runBin(t, "", "demo", "-json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 8 || !rep.OK {
		t.Fatalf("report: %+v", rep)
	}
	var modes []string
	for _, r := range rep.Rows {
		modes = append(modes, r.Mode)
		if !r.OK {
			t.Errorf("row %s: %+v", r.Row, r)
		}
	}
	if diff := cmp.Diff([]string{"direct", "direct", "forward", "tunnel", "forward", "tunnel", "forward", "tunnel"}, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	if len(rep.Upload) != 2 || !rep.Upload[0].Got413 {
		t.Errorf("upload: %+v", rep.Upload)
	}
}

// ferry get against proxies that want credentials, as curl is used: -U
// alone is preemptive Basic; a scheme flag makes ferry answer the 407.
func TestGetProxyAuth(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("Proxy-Authorization"))
	}))
	defer origin.Close()
	digest, err := proxytest.New(proxytest.Options{Digest: "alice:s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer digest.Close()
	basic, err := proxytest.New(proxytest.Options{Auth: "alice:s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer basic.Close()
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"basic-preemptive", []string{"get", "-x", basic.URL().String(), "-U", "alice:s3cret", origin.URL}, 0, "hello "},
		{"basic-flag", []string{"get", "-x", basic.URL().String(), "-U", "alice:s3cret", "--proxy-basic", origin.URL}, 0, "hello "},
		{"digest", []string{"get", "-x", digest.URL().String(), "-U", "alice:s3cret", "--proxy-digest", origin.URL}, 0, "hello "},
		{"anyauth", []string{"get", "-x", digest.URL().String(), "-U", "alice:s3cret", "--proxy-anyauth", origin.URL}, 0, "hello "},
		{"digest-without-flag-gets-407", []string{"get", "-x", digest.URL().String(), "-U", "alice:s3cret", "--fail", origin.URL}, 22, ""},
		{"digest-wrong-password", []string{"get", "-x", digest.URL().String(), "-U", "alice:nope", "--proxy-digest", "--fail", origin.URL}, 22, ""},
		{"user-without-password", []string{"get", "-x", digest.URL().String(), "-U", "alice", "--proxy-digest", origin.URL}, 0, "proxy authentication required\n"},
		{"empty-user", []string{"get", "-x", digest.URL().String(), "-U", "", origin.URL}, 2, ""},
		{"bench-refuses-schemes-for-nethttp", []string{"bench", "-x", digest.URL().String(), "-U", "alice:s3cret", "--proxy-digest", origin.URL}, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBin(t, "", tc.args...)
			if code != tc.wantCode || (tc.wantOut != "" && out != tc.wantOut) {
				t.Errorf("exit %d out %q, want %d %q; stderr: %s", code, out, tc.wantCode, tc.wantOut, errOut)
			}
			if strings.Contains(errOut, "s3cret") || strings.Contains(errOut, "nope") {
				t.Errorf("stderr holds the password: %s", errOut)
			}
		})
	}
}
