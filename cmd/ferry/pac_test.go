package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// answeringProxy is a forward proxy that answers every request itself, so
// the target's name is never resolved by anyone.
func answeringProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				body := "proxy saw " + req.RequestURI
				if auth := req.Header.Get("Proxy-Authorization"); auth != "" {
					body += " with " + auth
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestGetPAC: ferry get --pac walks the script's list past a dead proxy; -v
// shows the answer and which entry served. A broken script is a usage
// error, a script that fails for a URL a proxy failure.
func TestGetPAC(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	good := answeringProxy(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("proxy.pac", fmt.Sprintf(`function FindProxyForURL(url, host) {
		if (dnsDomainIs(host, ".corp.test")) return "PROXY %s; PROXY %s";
		throw "no rule for " + host;
	}`, deadAddr, good))
	broken := write("broken.pac", "function FindProxyForURL(url, host) {")

	out, errOut, code := runBin(t, "", "get", "--pac", script, "-v", "http://app.corp.test/x")
	if code != 0 || out != "proxy saw http://app.corp.test/x" {
		t.Fatalf("exit %d, out %q; stderr:\n%s", code, out, errOut)
	}
	// -U goes to whichever proxy the script chose.
	if out, errOut, code := runBin(t, "", "get", "--pac", script, "-U", "u:p", "http://app.corp.test/x"); code != 0 || out != "proxy saw http://app.corp.test/x with Basic dTpw" {
		t.Errorf("--pac -U: exit %d, out %q; stderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf(`* PAC for http://app.corp.test/x: "PROXY %s; PROXY %s"`, deadAddr, good),
		fmt.Sprintf("* entry 1, PROXY %s, failed: ", deadAddr),
		fmt.Sprintf("* entry 2, PROXY %s, served the request", good),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	deadOnly := write("dead.pac", fmt.Sprintf(`function FindProxyForURL(url, host) { return "PROXY %s; HTTPS %s"; }`, deadAddr, deadAddr))
	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"every entry fails", []string{"get", "--pac", deadOnly, "http://app.corp.test/"}, 5, "every entry of the proxy list failed:\n  1. "},
		{"broken script", []string{"get", "--pac", broken, "http://app.corp.test/"}, 2, "--pac: pac: compile"},
		{"missing file", []string{"get", "--pac", filepath.Join(dir, "none.pac"), "http://app.corp.test/"}, 2, "--pac:"},
		{"with --proxy", []string{"get", "--pac", script, "-x", "http://" + good, "http://app.corp.test/"}, 2, "exclude each other"},
		{"http URL", []string{"get", "--pac", "http://127.0.0.1:1/proxy.pac", "http://app.corp.test/"}, 2, "https"},
		{"script throws", []string{"get", "--pac", script, "http://other.test/"}, 5, "no rule for other.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := runBin(t, "", c.args...)
			if code != c.code || !strings.Contains(errOut, c.says) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.says)
			}
		})
	}
}
