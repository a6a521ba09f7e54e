package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
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
		wantErr bool
	}{
		{name: "aliases-and-flags-after-url", args: []string{"http://h/", "-x", "http://p:3128", "--header", "A: 1", "-H", "B: 2", "--proxy-header=X-P: 3", "-k", "-v"},
			want: &getOptions{URL: "http://h/", Proxy: "http://p:3128", Headers: []string{"A: 1", "B: 2"}, ProxyHeaders: []string{"X-P: 3"}, Insecure: true, Verbose: true}},
		{name: "long-forms", args: []string{"--proxy=http://p", "--request", "PUT", "--data", "@f", "--output", "o", "--fail", "--forward-https", "https://h/"},
			want: &getOptions{URL: "https://h/", Proxy: "http://p", Method: "PUT", Data: "@f", HasData: true, Output: "o", Fail: true, ForwardHTTPS: true}},
		{name: "timeouts", args: []string{"--connect-timeout", "2s", "--read-timeout", "3", "http://h/"},
			want: &getOptions{URL: "http://h/", ConnectTimeout: 2e9, ReadTimeout: 3e9}},
		{name: "no-url", args: []string{"-v"}, wantErr: true},
		{name: "two-urls", args: []string{"http://a/", "http://b/"}, wantErr: true},
		{name: "unknown-flag", args: []string{"--nope", "http://a/"}, wantErr: true},
		{name: "missing-value", args: []string{"http://a/", "-x"}, wantErr: true},
		{name: "bad-scheme", args: []string{"ftp://a/"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGet(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
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
	if len(rep.Rows) != 7 || !rep.OK {
		t.Fatalf("report: %+v", rep)
	}
	var modes []string
	for _, r := range rep.Rows {
		modes = append(modes, r.Mode)
		if !r.OK {
			t.Errorf("row %s: %+v", r.Row, r)
		}
	}
	if diff := cmp.Diff([]string{"direct", "direct", "forward", "tunnel", "forward", "tunnel", "forward"}, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	if len(rep.Upload) != 2 || !rep.Upload[0].Got413 {
		t.Errorf("upload: %+v", rep.Upload)
	}
}

func TestGetExitCodes(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+string(b))
	}))
	defer origin.Close()
	p, err := proxytest.New(proxytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	dir := t.TempDir()
	bodyFile := filepath.Join(dir, "body.txt")
	os.WriteFile(bodyFile, []byte("from a file"), 0o644)
	outFile := filepath.Join(dir, "out.txt")

	cases := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"ok", "", []string{"get", origin.URL + "/x"}, 0, "GET "},
		{"usage-no-url", "", []string{"get"}, 2, ""},
		{"usage-bad-flag", "", []string{"get", "--bogus", origin.URL}, 2, ""},
		{"proxy-refused", "", []string{"get", "-x", "http://" + deadAddr, origin.URL}, 5, ""},
		{"origin-refused", "", []string{"get", "http://" + deadAddr + "/"}, 7, ""},
		{"fail-on-404", "", []string{"get", "--fail", origin.URL + "/missing"}, 22, "404 page not found\n"},
		{"data-file", "", []string{"get", "-d", "@" + bodyFile, origin.URL}, 0, "POST from a file"},
		{"data-stdin", "piped", []string{"get", "-X", "PUT", "-d", "-", origin.URL}, 0, "PUT piped"},
		{"through-proxy-with-header", "", []string{"get", origin.URL + "/p", "--proxy", p.URL().String(), "--proxy-header", "X-Via-Cli: yes"}, 0, "GET "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBin(t, tc.stdin, tc.args...)
			if code != tc.wantCode || out != tc.wantOut {
				t.Errorf("exit %d out %q, want %d %q; stderr: %s", code, out, tc.wantCode, tc.wantOut, errOut)
			}
		})
	}
	recs := p.Requests()
	if len(recs) != 1 || recs[0].Header.Get("X-Via-Cli") != "yes" || !strings.HasPrefix(recs[0].Target, "http://") {
		t.Errorf("proxy records: %+v", recs)
	}
	_, _, code := runBin(t, "", "get", "-o", outFile, origin.URL+"/file")
	got, _ := os.ReadFile(outFile)
	if code != 0 || string(got) != "GET " {
		t.Errorf("-o: exit %d, file %q", code, got)
	}
}
