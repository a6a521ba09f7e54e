package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// servedAddrs runs `ferry serve` in its own process, as the README does,
// and returns what it printed: "http", "https", "h2", "proxy" and "ca".
func servedAddrs(t *testing.T, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	got := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("ferry serve ended: %s", errOut.String())
			}
			f := strings.Fields(line)
			if len(f) >= 2 && (f[0] == "http" || f[0] == "https" || f[0] == "h2" || f[0] == "proxy") {
				got[f[0]] = f[1]
			}
			if len(f) >= 4 && f[0] == "https" && f[2] == "--cacert" {
				got["ca"] = f[3]
			}
			flags := strings.Join(args, " ")
			if got["http"] != "" && got["https"] != "" && (got["proxy"] != "" || !strings.Contains(flags, "--proxy")) &&
				(got["h2"] != "" || !strings.Contains(flags, "--h2")) {
				go func() {
					for range lines {
					}
				}()
				return got
			}
		case <-timeout:
			t.Fatalf("ferry serve printed no addresses in 30 s: %v %s", got, errOut.String())
		}
	}
}

func benchJSON(t *testing.T, args ...string) *loadReport {
	t.Helper()
	var out bytes.Buffer
	stderr, code := runCmd(t, "", &out, append([]string{"bench", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return &rep
}

// TestBench runs a tiny bench against `ferry serve` in another process:
// directly, over TLS, and through its proxy (forwarded and tunnelled). It
// checks the report's shape and that its figures are sane, not timings.
func TestBench(t *testing.T) {
	clearProxyEnv(t)
	s := servedAddrs(t, "--proxy", "127.0.0.1:0", "--h2", "127.0.0.1:0")
	cases := []struct {
		name, mode string
		args       []string
		conns      int64  // at least; net/http may dial more than -c
		proto      string // resp.Proto of every response
	}{
		{"direct", "direct", []string{"-n", "40", "-c", "2", s["http"]}, 2, "HTTP/1.1"},
		{"tls", "direct", []string{"-n", "20", "--cacert", s["ca"], s["https"] + "tls"}, 1, "HTTP/1.1"},
		{"forward", "forward", []string{"-n", "20", "-x", s["proxy"], s["http"] + "fwd"}, 1, "HTTP/1.1"},
		{"tunnel", "tunnel", []string{"-n", "20", "-x", s["proxy"], "--cacert", s["ca"], s["https"] + "tun"}, 1, "HTTP/1.1"},
		{"post-duration", "direct", []string{"-z", "100ms", "-d", "a=1", s["http"]}, 1, "HTTP/1.1"},
		// --http2 against the origin that offers h2: 4 callers share one
		// connection, directly and through the proxy's tunnel.
		{"h2", "direct", []string{"-n", "40", "-c", "4", "--http2", "--cacert", s["ca"], s["h2"]}, 1, "HTTP/2.0"},
		{"h2-tunnel", "tunnel", []string{"-n", "40", "-c", "4", "--http2", "-x", s["proxy"], "--cacert", s["ca"], s["h2"]}, 1, "HTTP/2.0"},
		// The h2 origin without --http2, and --http2 to an origin that
		// offers only HTTP/1.1: both HTTP/1.1.
		{"h2-origin-http1", "direct", []string{"-n", "10", "--cacert", s["ca"], s["h2"]}, 1, "HTTP/1.1"},
		{"http2-flag-http1-origin", "direct", []string{"-n", "10", "--http2", "--cacert", s["ca"], s["https"]}, 1, "HTTP/1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := benchJSON(t, append([]string{"--rounds", "2"}, tc.args...)...)
			if rep.Mode != tc.mode || rep.Rounds != 2 {
				t.Errorf("mode %s rounds %d, want %s 2", rep.Mode, rep.Rounds, tc.mode)
			}
			var names []string
			for _, st := range rep.Transports {
				names = append(names, st.Name)
				if rep.Duration == "" && st.Requests != 2*int64(rep.Requests) {
					t.Errorf("%s: %d requests, want %d", st.Name, st.Requests, 2*rep.Requests)
				}
				if st.Requests == 0 || st.Errors != 0 || st.Non2xx != 0 || st.FirstError != "" {
					t.Errorf("%s: requests %d errors %d non-2xx %d %s", st.Name, st.Requests, st.Errors, st.Non2xx, st.FirstError)
				}
				if !(st.ReqPerSec > 0 && st.P50 > 0 && st.P50 <= st.P90 && st.P90 <= st.P99 && st.CPUPerReq > 0 && st.AllocsPerReq >= 1) {
					t.Errorf("%s: figures not sane: %+v", st.Name, st)
				}
				if st.Protocols != tc.proto {
					t.Errorf("%s: protocols %q, want %q", st.Name, st.Protocols, tc.proto)
				}
				if st.ConnsDialled < tc.conns || st.ConnsDialled > 4*tc.conns {
					t.Errorf("%s: %d connections dialled, want about %d (keep-alive)", st.Name, st.ConnsDialled, tc.conns)
				}
			}
			if strings.Join(names, ",") != "ferry,nethttp" {
				t.Errorf("transports %v", names)
			}
			for k, r := range rep.Ratios {
				if !(r.Min >= 0 && r.Min <= r.Median && r.Median <= r.Max && r.Max > 0) {
					t.Errorf("ratio %s not sane: %+v", k, r)
				}
			}
			if len(rep.Ratios) != 3 {
				t.Errorf("ratios: %v", rep.Ratios)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		var out bytes.Buffer
		stderr, code := runCmd(t, "", &out, "bench", "-n", "10", "--rounds", "1", "--transport", "nethttp,ferry", s["http"])
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		txt := out.String()
		ferryAt, netAt := strings.Index(txt, "  ferry "), strings.Index(txt, "nethttp ")
		if ferryAt < 0 || netAt < 0 || netAt > ferryAt || !strings.Contains(txt, "requests per second") {
			t.Errorf("output:\n%s", txt)
		}
	})
	t.Run("one-transport", func(t *testing.T) {
		rep := benchJSON(t, "-n", "5", "--rounds", "1", "--transport", "ferry", s["http"])
		if len(rep.Transports) != 1 || rep.Transports[0].Name != "ferry" || rep.Ratios != nil {
			t.Errorf("report: %+v", rep)
		}
	})
}

// TestBenchIdle opens a few idle connections per transport and checks what
// the report says they hold: every one dialled and idle, and ferry adding
// fewer goroutines than net/http (which keeps two per connection).
func TestBenchIdle(t *testing.T) {
	clearProxyEnv(t)
	s := servedAddrs(t)
	const n = 20
	var out bytes.Buffer
	stderr, code := runCmd(t, "", &out, "bench", "--json", "--idle", "20", "-c", "4", "--rounds", "1", s["http"])
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep idleReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	f, nh := rep.Transports["ferry"], rep.Transports["nethttp"]
	if f == nil || nh == nil {
		t.Fatalf("report: %s", out.String())
	}
	for name, st := range rep.Transports {
		if st.Conns != n || st.Idle != n || st.HeapPerConn <= 0 {
			t.Errorf("%s: %+v, want %d dialled and idle, some heap", name, st, n)
		}
	}
	if !(f.Added < nh.Added) || nh.Added < n {
		t.Errorf("goroutines added: ferry %v, net/http %v", f.Added, nh.Added)
	}
	if _, ok := rep.Ratios["heap_per_conn"]; !ok {
		t.Errorf("ratios: %v", rep.Ratios)
	}
}

func TestBenchUsage(t *testing.T) {
	clearProxyEnv(t)
	trip := newTripwire(t)
	u := "http://" + trip.ln.Addr().String() + "/"
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"zero-requests", []string{"-n", "0", u}, "ferry bench: flag -n: 0 is out of range [1, 10000000] (see ferry bench -h)\n"},
		{"absurd-concurrency", []string{"-c", "20000", u}, "ferry bench: flag -c: 20000 is out of range [1, 10000] (see ferry bench -h)\n"},
		{"c-over-n", []string{"-n", "2", "-c", "3", u}, "ferry bench: -c 3 is more than -n 2 (see ferry bench -h)\n"},
		{"n-and-z", []string{"-n", "5", "-z", "1s", u}, "ferry bench: -n and -z exclude each other (see ferry bench -h)\n"},
		{"idle-and-n", []string{"--idle", "5", "-n", "5", u}, "ferry bench: --idle excludes -n and -z (see ferry bench -h)\n"},
		{"absurd-idle", []string{"--idle", "1000000", u}, "ferry bench: flag --idle: 1000000 is out of range [1, 100000] (see ferry bench -h)\n"},
		{"absurd-rounds", []string{"--rounds", "1000", u}, "ferry bench: flag --rounds: 1000 is out of range [1, 100] (see ferry bench -h)\n"},
		{"bad-transport", []string{"--transport", "ferry,curl", u}, "ferry bench: --transport \"ferry,curl\": want ferry, nethttp or both\n"},
		{"pin-needs-ferry", []string{"--pin", strings.Repeat("ab", 32), "https://" + trip.ln.Addr().String() + "/"},
			"ferry bench: --pin and --proxy-pin have no net/http equivalent: use --transport ferry\n"},
		{"bad-pin", []string{"--transport", "ferry", "--pin", "00", "https://" + trip.ln.Addr().String() + "/"}, "ferry bench: --pin \"00\": "},
		{"bad-proxy", []string{"-x", "ftp://" + trip.ln.Addr().String(), u}, "ferry bench: -x: "},
		{"bad-method", []string{"-X", "BAD METHOD", u}, "ferry bench: net/http: invalid method \"BAD METHOD\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			stderr, code := runCmd(t, "", &out, append([]string{"bench"}, tc.args...)...)
			if code != exitUsage || !strings.HasPrefix(stderr, tc.stderr) || out.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d, %q", code, stderr, out.String(), exitUsage, tc.stderr)
			}
		})
	}
	if n := trip.conns.Load(); n != 0 {
		t.Errorf("%d connections reached the tripwire: a refusal came after dialling", n)
	}
}

// TestBenchFailure: a bench whose every request fails exits with the code
// of the cause and names the peer.
func TestBenchFailure(t *testing.T) {
	clearProxyEnv(t)
	dead := newTripwire(t)
	addr := dead.ln.Addr().String()
	dead.ln.Close()
	var out bytes.Buffer
	stderr, code := runCmd(t, "", &out, "bench", "-n", "3", "--rounds", "1", "-x", "http://"+addr, "http://192.0.2.1/")
	want := "ferry bench: ferry: every warm-up request failed: proxy http://" + addr + " failed for http://192.0.2.1/: "
	if code != exitProxy || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr, exitProxy, want)
	}
}

// TestBenchInterrupted: Ctrl-C (the context) stops a long bench promptly.
func TestBenchInterrupted(t *testing.T) {
	clearProxyEnv(t)
	origin := testOrigin(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, e bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"bench", "-z", "1h", "-c", "4", origin.URL}, strings.NewReader(""), &out, &e)
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted || !strings.Contains(e.String(), "interrupted") {
			t.Errorf("exit %d, stderr %q", code, e.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bench did not stop after its context ended")
	}
}

// TestServe runs serve in this process: it answers on each address it
// prints, refuses addresses off loopback, and returns when interrupted.
func TestServe(t *testing.T) {
	clearProxyEnv(t)
	var e bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--http", "0.0.0.0:0"}, nil, &bytes.Buffer{}, &e); code != exitUsage ||
		e.String() != "ferry serve: --http \"0.0.0.0:0\": ferry serve listens on loopback only\n" {
		t.Errorf("non-loopback: exit %d, %q", code, e.String())
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	s, err := startServe(&serveOptions{HTTP: serveDefault, HTTPS: serveDefault, H2: serveDefault, Proxy: serveDefault, CA: caFile, Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, u := range []string{s.httpURL, s.httpURL + "bytes/5"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if want := map[bool]string{true: "abcde", false: "abc"}[strings.HasSuffix(u, "/5")]; b.String() != want {
			t.Errorf("%s: %q, want %q", u, b.String(), want)
		}
	}
	// The HTTPS origin is verified with the CA that --ca wrote.
	var out bytes.Buffer
	if stderr, code := runCmd(t, "", &out, "get", "--cacert", caFile, s.httpsURL+"bytes/2"); code != exitOK || out.String() != "ab" {
		t.Errorf("https with --ca's CA: exit %d, %q, %s", code, out.String(), stderr)
	}
	// The --h2 origin speaks HTTP/2 to a client that offers it, the
	// --https one never does.
	for u, want := range map[string]string{s.h2URL: "HTTP/2.0", s.httpsURL: "HTTP/1.1"} {
		out.Reset()
		if stderr, code := runCmd(t, "", &out, "get", "-i", "--http2", "--cacert", caFile, u+"bytes/2"); code != exitOK || !strings.HasPrefix(out.String(), want+" 200") {
			t.Errorf("get --http2 %s: exit %d, %q, %s; want %s", u, code, out.String(), stderr, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	out.Reset()
	go func() { done <- run(ctx, []string{"serve", "--https", "off"}, nil, &out, &bytes.Buffer{}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return when interrupted")
	}
}
