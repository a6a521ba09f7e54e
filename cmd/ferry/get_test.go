package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// tripwire is a loopback listener that counts the connections it gets: a
// refusal aimed at it proves it came before anything was dialled.
type tripwire struct {
	ln    net.Listener
	conns atomic.Int32
}

func newTripwire(t *testing.T) *tripwire {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tw := &tripwire{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tw.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tw
}

// clearProxyEnv empties the proxy variables for a test, so the machine's
// own settings never leak in.
func clearProxyEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
}

// runCmd runs the command in this process, as main does.
func runCmd(t *testing.T, stdin string, stdout io.Writer, args ...string) (errOut string, code int) {
	t.Helper()
	var e bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), stdout, &e)
	return e.String(), code
}

// testOrigin answers: /missing 404, /redir a 302 to /echo, /loop a 302 to
// itself, /slow never (until the client goes), /big 1 MiB, anything else
// "METHOD Content-Type body". No Date header, so outputs compare exactly.
func testOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		switch r.URL.Path {
		case "/missing":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no such page\n")
		case "/redir":
			http.Redirect(w, r, "/echo", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/slow":
			<-r.Context().Done()
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		default:
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("Content-Type"), b)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("the reader went away") }

func TestGetRun(t *testing.T) {
	clearProxyEnv(t)
	origin := testOrigin(t)
	proxy, err := proxytest.New(proxytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	// An https proxy whose certificate no CA given to ferry vouches for.
	_, leaf := testcert.MustLocalhost("untrusted proxy CA")
	tlsProxy, err := proxytest.New(proxytest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tlsProxy.Close() })
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	t.Cleanup(secure.Close)
	trip := newTripwire(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "body.txt"), []byte("from a file"), 0o644)

	o := strings.TrimPrefix(origin.URL, "http://")
	repl := strings.NewReplacer("{O}", o, "{P}", proxy.URL().Host, "{S}", tlsProxy.URL().Host, "{D}", deadAddr, "{T}", trip.ln.Addr().String(), "{dir}", dir, "{H}", strings.TrimPrefix(secure.URL, "https://"))

	cases := []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string // exact; a prefix when it ends in "…"
		check  func(t *testing.T, stdout, stderr string)
	}{
		{name: "ok", args: []string{"http://{O}/x"}, stdout: "GET  "},
		{name: "include", args: []string{"-i", "http://{O}/x"},
			stdout: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nGET  "},
		{name: "no-url", args: nil, code: exitUsage, stderr: "ferry get: no URL (see ferry get -h)\n"},
		{name: "unknown-flag", args: []string{"--bogus", "http://{O}/"}, code: exitUsage, stderr: "ferry get: unknown flag --bogus (see ferry get -h)\n"},
		{name: "data-sets-form-type", args: []string{"-d", "a=1", "http://{O}/"}, stdout: "POST application/x-www-form-urlencoded a=1"},
		{name: "data-keeps-given-type", args: []string{"-d", "{}", "-H", "Content-Type: application/json", "http://{O}/"}, stdout: "POST application/json {}"},
		{name: "data-file", args: []string{"-d", "@{dir}/body.txt", "http://{O}/"}, stdout: "POST application/x-www-form-urlencoded from a file"},
		{name: "data-stdin", stdin: "piped", args: []string{"-X", "PUT", "-d", "-", "http://{O}/"}, stdout: "PUT application/x-www-form-urlencoded piped"},
		{name: "data-file-missing", args: []string{"-d", "@{dir}/nope", "http://{T}/"}, code: exitRead,
			stderr: "ferry get: -d: open {dir}/nope: no such file or directory\n"},
		{name: "fail-writes-no-body", args: []string{"--fail", "http://{O}/missing"}, code: exitHTTP,
			stderr: "ferry get: the origin answered 404 Not Found for http://{O}/missing\n"},
		{name: "no-fail-writes-the-page", args: []string{"http://{O}/missing"}, stdout: "no such page\n"},
		{name: "silent-fail", args: []string{"-s", "-f", "http://{O}/missing"}, code: exitHTTP},
		{name: "silent-show-error-bundled", args: []string{"-sSf", "http://{O}/missing"}, code: exitHTTP,
			stderr: "ferry get: the origin answered 404 Not Found for http://{O}/missing\n"},
		{name: "bundle-with-unknown-letter", args: []string{"-sQ", "http://{O}/missing"}, code: exitUsage,
			stderr: "ferry get: unknown flag -sQ (see ferry get -h)\n"},
		{name: "silent-and-show-error", args: []string{"-s", "-S", "-f", "http://{O}/missing"}, code: exitHTTP,
			stderr: "ferry get: the origin answered 404 Not Found for http://{O}/missing\n"},
		{name: "redirect-not-followed", args: []string{"http://{O}/redir"}, stdout: "<a href=\"/echo\">Found</a>.\n\n"},
		{name: "redirect-followed", args: []string{"-L", "http://{O}/redir"}, stdout: "GET  "},
		{name: "too-many-redirects", args: []string{"-L", "--max-redirs", "2", "http://{O}/loop"}, code: exitRedirects,
			stderr: "ferry get: more than 2 redirects (--max-redirs), last to http://{O}/loop\n"},
		{name: "origin-refused", args: []string{"http://{D}/"}, code: exitOrigin,
			stderr: "ferry get: origin http://{D} failed for http://{D}/: dial tcp {D}: connect: connection refused\n"},
		{name: "proxy-refused", args: []string{"-x", "http://{D}", "http://{O}/"}, code: exitProxy,
			stderr: "ferry get: proxy http://{D} failed for http://{O}/: …"},
		{name: "proxy-password-redacted", args: []string{"-x", "http://user:secret@{D}", "http://{O}/"}, code: exitProxy,
			stderr: "ferry get: proxy http://user:xxxxx@{D} failed for http://{O}/: …"},
		{name: "url-password-redacted", args: []string{"http://user:secret@{D}/"}, code: exitOrigin,
			stderr: "ferry get: origin http://{D} failed for http://user:xxxxx@{D}/: …"},
		{name: "timeout", args: []string{"--read-timeout", "300ms", "http://{O}/slow"}, code: exitTimeout,
			stderr: "ferry get: origin http://{O} failed for http://{O}/slow: …"},
		{name: "bad-proxy-flag", args: []string{"-x", "ftp://{T}", "http://{T}/"}, code: exitUsage, stderr: "ferry get: -x: …"},
		{name: "bad-proxy-env", env: map[string]string{"HTTP_PROXY": "ftp://{T}"}, args: []string{"http://192.0.2.1/"}, code: exitUsage,
			stderr: "ferry get: proxy from the environment (HTTP_PROXY): …"},
		{name: "env-proxy-refused", env: map[string]string{"HTTP_PROXY": "http://{D}"}, args: []string{"http://192.0.2.1/"}, code: exitProxy,
			stderr: "ferry get: proxy http://{D} failed for http://192.0.2.1/: …"},
		{name: "bad-pin", args: []string{"--pin", "00", "https://{T}/"}, code: exitUsage, stderr: "ferry get: --pin \"00\": …"},
		{name: "pin-without-tls", args: []string{"--pin", strings.Repeat("ab", 32), "http://{T}/"}, code: exitUsage,
			stderr: "ferry get: --pin: http://{T}/ has no TLS to pin\n"},
		{name: "proxy-pin-without-https-proxy", args: []string{"--proxy-pin", strings.Repeat("ab", 32), "-x", "http://{T}", "http://{T}/"}, code: exitUsage,
			stderr: "ferry get: --proxy-pin: no https:// proxy for http://{T}/\n"},
		{name: "bad-port", args: []string{"http://{T}9999/"}, code: exitUsage, stderr: "ferry get: URL http://{T}9999/: port …"},
		{name: "bad-header", args: []string{"-H", "no colon", "http://{T}/"}, code: exitUsage, stderr: "ferry get: -H \"no colon\": want 'Name: value'\n"},
		{name: "output-unwritable", args: []string{"-o", "{dir}/no/such/file", "http://{T}/"}, code: exitWrite,
			stderr: "ferry get: -o: open {dir}/no/such/file: no such file or directory\n"},
		{name: "output-full", args: []string{"-o", "/dev/full", "http://{O}/big"}, code: exitWrite,
			stderr: "ferry get: writing the output: write /dev/full: no space left on device\n"},
		{name: "output-file", args: []string{"-o", "{dir}/out.txt", "http://{O}/f"},
			check: func(t *testing.T, _, _ string) { wantFile(t, repl.Replace("{dir}/out.txt"), "GET  ") }},
		{name: "output-not-made-on-fail", args: []string{"-f", "-o", "{dir}/fail.txt", "http://{O}/missing"}, code: exitHTTP,
			stderr: "ferry get: the origin answered 404 Not Found for http://{O}/missing\n",
			check: func(t *testing.T, _, _ string) {
				if _, err := os.Stat(repl.Replace("{dir}/fail.txt")); !os.IsNotExist(err) {
					t.Errorf("-o file after --fail: %v, want none", err)
				}
			}},
		{name: "proxy-cert-not-verified", args: []string{"-x", "https://{S}", "http://{O}/"}, code: exitCert,
			stderr: "ferry get: proxy https://{S} failed for http://{O}/: …"},
		{name: "proxy-insecure", args: []string{"--proxy-insecure", "-x", "https://{S}", "http://{O}/p"}, stdout: "GET  "},
		{name: "verbose-shows-request-not-secrets", args: []string{"-v", "-H", "Authorization: Bearer tok3n", "-x", "http://u:s3cret@{P}", "http://{O}/v"},
			stdout: "GET  ", stderr: "* proxy http://u:xxxxx@{P} (from -x)\n> GET http://{O}/v HTTP/1.1\n…",
			check: func(t *testing.T, _, stderr string) {
				for _, want := range []string{"> Host: {O}\n", "> Proxy-Authorization: Basic [redacted]\n", "> Authorization: Bearer [redacted]\n", ">\n", "* mode forward", "< HTTP/1.1 200 OK\n"} {
					if !strings.Contains(stderr, repl.Replace(want)) {
						t.Errorf("stderr lacks %q", repl.Replace(want))
					}
				}
				for _, secret := range []string{"s3cret", "dTpzM2NyZXQ", "tok3n"} {
					if strings.Contains(stderr, secret) {
						t.Errorf("stderr shows the secret %q", secret)
					}
				}
			}},
		{name: "origin-cert-not-verified", args: []string{"https://{H}/"}, code: exitCert,
			stderr: "ferry get: origin https://{H} failed for https://{H}/: …"},
		{name: "header-with-newline", args: []string{"-H", "X-A: 1\r\nX-B: 2", "http://{T}/"}, code: exitUsage,
			stderr: "ferry get: invalid request http://{T}/: …"},
		{name: "verbose-shows-connect", args: []string{"-v", "-k", "-x", "http://u:s3cret@{P}", "https://{H}/t"},
			stdout: "secure", stderr: "* proxy http://u:xxxxx@{P} (from -x)\n* CONNECT through http://u:xxxxx@{P}\n> CONNECT {H} HTTP/1.1\n> Host: {H}\n…",
			check: func(t *testing.T, _, stderr string) {
				for _, want := range []string{"> Proxy-Authorization: Basic [redacted]\n", "< HTTP/1.1 200 Connection established\n", "> GET /t HTTP/1.1\n", "* mode tunnel"} {
					if !strings.Contains(stderr, repl.Replace(want)) {
						t.Errorf("stderr lacks %q:\n%s", repl.Replace(want), stderr)
					}
				}
				if strings.Contains(stderr, "s3cret") || strings.Contains(stderr, "dTpzM2NyZXQ") {
					t.Errorf("stderr shows the password:\n%s", stderr)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, repl.Replace(v))
			}
			if slices.Contains(tc.args, "/dev/full") {
				if _, err := os.Stat("/dev/full"); err != nil {
					t.Skip("no /dev/full here")
				}
			}
			var args []string
			for _, a := range tc.args {
				args = append(args, repl.Replace(a))
			}
			before := trip.conns.Load()
			var out bytes.Buffer
			stderr, code := runCmd(t, tc.stdin, &out, append([]string{"get"}, args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if out.String() != repl.Replace(tc.stdout) {
				t.Errorf("stdout %q, want %q", out.String(), repl.Replace(tc.stdout))
			}
			want := repl.Replace(tc.stderr)
			if prefix, ok := strings.CutSuffix(want, "…"); ok {
				if !strings.HasPrefix(stderr, prefix) {
					t.Errorf("stderr %q, want it to start with %q", stderr, prefix)
				}
			} else if stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			if tc.check != nil {
				tc.check(t, out.String(), stderr)
			}
			if n := trip.conns.Load() - before; n != 0 {
				t.Errorf("%d connections reached the tripwire: the refusal came too late", n)
			}
		})
	}
	if recs := proxy.Requests(); len(recs) == 0 || recs[0].Header.Get("Proxy-Authorization") == "" {
		t.Errorf("the proxy did not get the -v request with its credentials: %+v", recs)
	}
}

// TestGetStdoutWriteError: a body that cannot be written is exit 23, not
// a network failure.
func TestGetStdoutWriteError(t *testing.T) {
	clearProxyEnv(t)
	origin := testOrigin(t)
	stderr, code := runCmd(t, "", failingWriter{}, "get", origin.URL+"/big")
	if code != exitWrite || stderr != "ferry get: writing the output: the reader went away\n" {
		t.Errorf("exit %d, stderr %q; want %d and the write error", code, stderr, exitWrite)
	}
}

// TestGetInterrupted: Ctrl-C (the context) ends a request that waits.
func TestGetInterrupted(t *testing.T) {
	clearProxyEnv(t)
	origin := testOrigin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, e bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"get", origin.URL + "/slow"}, strings.NewReader(""), &out, &e) }()
	select {
	case code := <-done:
		if code != exitInterrupted || e.String() != "ferry get: interrupted\n" {
			t.Errorf("exit %d, stderr %q", code, e.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("get did not return after its context ended")
	}
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s: %q, %v; want %q", path, got, err, want)
	}
}
