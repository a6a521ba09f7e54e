package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// demoRow is one row of the mode table with what urllib3 reports for it.
type demoRow struct {
	Row               string `json:"row"`
	Proxy             string `json:"proxy"`
	Target            string `json:"target"`
	Forwarding        bool   `json:"use_forwarding_for_https"`
	ProxyAuth         string `json:"proxy_auth,omitempty"` // the scheme the proxy requires and ferry answers
	WantMode          string `json:"want_mode"`
	WantVerified      bool   `json:"want_is_verified"`
	WantProxyVerified bool   `json:"want_is_proxy_verified"`

	Mode            string `json:"mode"`
	ProxySaw        string `json:"proxy_saw"`
	Status          int    `json:"status"`
	IsVerified      bool   `json:"is_verified"`
	IsProxyVerified bool   `json:"is_proxy_verified"`
	Reused          bool   `json:"reused_on_second_request"`
	Error           string `json:"error,omitempty"`
	OK              bool   `json:"ok"`
}

type uploadResult struct {
	Transport string `json:"transport"`
	Result    string `json:"result"`
	Got413    bool   `json:"got_413"`
}

type demoReport struct {
	Rows   []demoRow      `json:"rows"`
	Upload []uploadResult `json:"early_413_upload"`
	HTTP2  []h2Row        `json:"http2"`
	OK     bool           `json:"ok"`
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	asJSON := false
	for _, a := range args {
		switch a {
		case "-json", "--json":
			asJSON = true
		default:
			fmt.Fprintf(stderr, "ferry demo: unknown flag %q\n", a)
			return exitUsage
		}
	}
	rep, err := demo()
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v\n", err)
		return exitInternal
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !rep.OK {
		for _, r := range rep.Rows {
			if !r.OK {
				fmt.Fprintf(stderr, "ferry demo: row %q did not behave as the mode table says\n", r.Row)
			}
		}
		for _, r := range rep.HTTP2 {
			if !r.OK {
				fmt.Fprintf(stderr, "ferry demo: %q was not HTTP/2 over one connection and one CONNECT\n", r.Row)
			}
		}
		return exitDemo
	}
	return exitOK
}

// demo starts two origins and two proxies on loopback and sends one request
// per row of the mode table, twice, through a ferry.Transport.
func demo() (*demoReport, error) {
	ca, err := testcert.NewCA("ferry demo CA")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.LocalhostLeaf()
	if err != nil {
		return nil, err
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the origin\n") })
	plain := httptest.NewServer(hello)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(hello)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	secure.StartTLS()
	defer secure.Close()

	httpProxy, err := proxytest.New(proxytest.Options{UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	if err != nil {
		return nil, err
	}
	defer httpProxy.Close()
	httpsProxy, err := proxytest.New(proxytest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf}}, UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	if err != nil {
		return nil, err
	}
	defer httpsProxy.Close()
	// A proxy that wants Digest: ferry answers its 407 (proxy authentication).
	digestProxy, err := proxytest.New(proxytest.Options{Digest: "demo:s3cret", UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	if err != nil {
		return nil, err
	}
	defer digestProxy.Close()

	rows := []demoRow{
		{Row: "1", Target: "http", WantMode: "direct"},
		{Row: "2", Target: "https", WantMode: "direct", WantVerified: true},
		{Row: "3", Proxy: "http", Target: "http", WantMode: "forward"},
		{Row: "4", Proxy: "http", Target: "https", WantMode: "tunnel", WantVerified: true},
		{Row: "5", Proxy: "https", Target: "http", WantMode: "forward", WantProxyVerified: true},
		{Row: "6", Proxy: "https", Target: "https", WantMode: "tunnel", WantVerified: true, WantProxyVerified: true},
		{Row: "7", Proxy: "https", Target: "https", Forwarding: true, WantMode: "forward", WantProxyVerified: true},
		{Row: "4+auth", Proxy: "http", ProxyAuth: "Digest", Target: "https", WantMode: "tunnel", WantVerified: true},
	}
	rep := &demoReport{OK: true}
	for _, r := range rows {
		var p *proxytest.Proxy
		switch {
		case r.ProxyAuth != "":
			p = digestProxy
		case r.Proxy == "http":
			p = httpProxy
		case r.Proxy == "https":
			p = httpsProxy
		}
		target := plain.URL
		if r.Target == "https" {
			target = secure.URL
		}
		tr := &ferry.Transport{
			TLSClientConfig:       &tls.Config{RootCAs: ca.Pool()},
			ProxyTLSClientConfig:  &tls.Config{RootCAs: ca.Pool()},
			UseForwardingForHTTPS: r.Forwarding,
			ConnectTimeout:        5 * time.Second,
			ReadTimeout:           5 * time.Second,
		}
		if p != nil {
			pu := p.URL()
			if r.ProxyAuth != "" {
				pu = p.URLWithAuth("demo", "s3cret")
				tr.ProxyAuth = []proxyauth.Scheme{&proxyauth.Digest{}}
			}
			tr.Proxy = http.ProxyURL(pu)
			p.Reset()
		}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for i := 0; i < 2; i++ {
			resp, err := client.Get(target + "/demo")
			if err != nil {
				r.Error = err.Error()
				break
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			info, _ := ferry.ConnInfoOf(resp)
			r.Status, r.Mode, r.IsVerified, r.IsProxyVerified, r.Reused = resp.StatusCode, info.Mode.String(), info.IsVerified, info.IsProxyVerified, info.Reused
		}
		tr.CloseIdleConnections()
		if p != nil {
			recs := p.Requests()
			if len(recs) > 0 {
				r.ProxySaw = recs[0].Method + " " + recs[0].Target
			}
			if r.ProxyAuth != "" && len(recs) == 2 {
				// The first CONNECT got the 407, the second its answer.
				scheme, _, _ := strings.Cut(recs[1].Header.Get("Proxy-Authorization"), " ")
				r.ProxySaw += ", 407, then " + scheme
			}
		} else {
			r.ProxySaw = "-"
		}
		wantSaw := "-"
		switch r.WantMode {
		case string(mustText(proxyconfig.Forward)):
			wantSaw = "GET " + target + "/demo"
		case string(mustText(proxyconfig.Tunnel)):
			wantSaw = "CONNECT " + strings.TrimPrefix(target, "https://")
		}
		if r.ProxyAuth != "" {
			wantSaw += ", 407, then " + r.ProxyAuth
		}
		r.OK = r.Error == "" && r.Status == 200 && r.Mode == r.WantMode && r.IsVerified == r.WantVerified &&
			r.IsProxyVerified == r.WantProxyVerified && r.Reused && r.ProxySaw == wantSaw
		rep.OK = rep.OK && r.OK
		rep.Rows = append(rep.Rows, r)
	}
	rep.HTTP2 = demoHTTP2(ca, leaf, httpProxy, httpsProxy)
	for _, r := range rep.HTTP2 {
		rep.OK = rep.OK && r.OK
	}
	up, err := earlyUpload()
	if err != nil {
		return nil, err
	}
	rep.Upload = up
	return rep, nil
}

func mustText(m proxyconfig.Mode) []byte { b, _ := m.MarshalText(); return b }

// earlyUpload sends 32 MiB to an origin that reads the request head, answers
// 413 and closes, through ferry and through net/http.
func earlyUpload() ([]uploadResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}()
		}
	}()
	payload := bytes.Repeat([]byte("x"), 32<<20)
	var out []uploadResult
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"ferry.Transport", &ferry.Transport{}}, {"http.Transport", &http.Transport{}}} {
		got, tries := 0, 5
		var last string
		for i := 0; i < tries; i++ {
			req, _ := http.NewRequest("PUT", "http://"+ln.Addr().String()+"/upload", bytes.NewReader(payload))
			resp, err := c.rt.RoundTrip(req)
			if err != nil {
				last = "error: " + err.Error()
				continue
			}
			resp.Body.Close()
			last = resp.Status
			if resp.StatusCode == 413 {
				got++
			}
		}
		out = append(out, uploadResult{Transport: c.name, Result: fmt.Sprintf("413 in %d of %d tries (last: %s)", got, tries, last), Got413: got == tries})
	}
	return out, nil
}

func printReport(w io.Writer, rep *demoReport) {
	fmt.Fprintln(w, "ferry demo: one request per row of urllib3's mode table (two, to see reuse), all on loopback")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tproxy\ttarget\tmode\tproxy received\tstatus\tIsVerified\tIsProxyVerified\treused\tok")
	for _, r := range rep.Rows {
		proxy := r.Proxy
		if proxy == "" {
			proxy = "none"
		}
		if r.ProxyAuth != "" {
			proxy += " (" + r.ProxyAuth + ")"
		}
		target := r.Target
		if r.Forwarding {
			target += " (UseForwardingForHTTPS)"
		}
		ok := "yes"
		if !r.OK {
			ok = "NO " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%v\t%v\t%v\t%s\n", r.Row, proxy, target, r.Mode, r.ProxySaw, r.Status, r.IsVerified, r.IsProxyVerified, r.Reused, ok)
	}
	tw.Flush()
	fmt.Fprintln(w)
	printHTTP2(w, rep.HTTP2)
	fmt.Fprintln(w, "early 413: a 32 MiB upload to a server that answers 413 after the headers and closes")
	for _, u := range rep.Upload {
		fmt.Fprintf(w, "  %-16s %s\n", u.Transport, u.Result)
	}
	fmt.Fprintln(w)
	if rep.OK {
		fmt.Fprintln(w, "every row behaved as the mode table says")
	}
}
