package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// protocolLine is `ferry get -v`'s line on the protocol the response came
// over and what the origin chose in ALPN.
func protocolLine(info ferry.ConnInfo) string {
	alpn := info.ALPN
	if alpn == "" {
		alpn = "none"
	}
	return fmt.Sprintf("* protocol %s (ALPN with the origin: %s)", info.Proto, alpn)
}

// h2Row is one HTTP/2 row of the demo: several requests at once over one
// connection, and what the proxy saw of them.
type h2Row struct {
	Row         string `json:"row"`
	Proxy       string `json:"proxy"`
	Requests    int    `json:"requests"`
	Protocols   string `json:"protocols"`    // the distinct resp.Proto values seen
	ProxySaw    string `json:"proxy_saw"`    // the requests the proxy received
	OriginConns int    `json:"origin_conns"` // TCP connections the origin accepted
	Error       string `json:"error,omitempty"`
	OK          bool   `json:"ok"`
}

// demoHTTP2 sends requests at once to an HTTP/2 origin directly, through
// the HTTP proxy's tunnel and TLS in TLS through the HTTPS proxy: each row
// must be HTTP/2 over one connection, the proxy seeing one CONNECT.
func demoHTTP2(ca *testcert.CA, leaf tls.Certificate, httpProxy, httpsProxy *proxytest.Proxy) []h2Row {
	const n = 8
	var mu sync.Mutex
	conns := 0
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	origin.EnableHTTP2 = true
	origin.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	origin.StartTLS()
	defer origin.Close()

	var rows []h2Row
	for _, c := range []struct {
		row string
		p   *proxytest.Proxy
	}{{"h2 direct", nil}, {"h2 through the HTTP proxy's tunnel", httpProxy}, {"h2 TLS in TLS through the HTTPS proxy", httpsProxy}} {
		r := h2Row{Row: c.row, Proxy: "none", Requests: n, ProxySaw: "-"}
		tr := &ferry.Transport{
			ForceAttemptHTTP2:    true,
			TLSClientConfig:      &tls.Config{RootCAs: ca.Pool()},
			ProxyTLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
			ConnectTimeout:       5 * time.Second,
			ReadTimeout:          5 * time.Second,
		}
		if c.p != nil {
			tr.Proxy = http.ProxyURL(c.p.URL())
			r.Proxy = c.p.URL().Scheme
			c.p.Reset()
		}
		mu.Lock()
		before := conns
		mu.Unlock()
		protos := map[string]bool{}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(origin.URL + "/h2")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					r.Error = err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				protos[resp.Proto] = true
			}()
		}
		wg.Wait()
		tr.CloseIdleConnections()
		var ps []string
		for p := range protos {
			ps = append(ps, p)
		}
		r.Protocols = strings.Join(ps, ",")
		mu.Lock()
		r.OriginConns = conns - before
		mu.Unlock()
		wantSaw := "-"
		if c.p != nil {
			var saw []string
			for _, rec := range c.p.Requests() {
				saw = append(saw, rec.Method+" "+rec.Target)
			}
			r.ProxySaw = strings.Join(saw, ", ")
			wantSaw = "CONNECT " + strings.TrimPrefix(origin.URL, "https://")
		}
		r.OK = r.Error == "" && r.Protocols == "HTTP/2.0" && r.OriginConns == 1 && r.ProxySaw == wantSaw
		rows = append(rows, r)
	}
	return rows
}

func printHTTP2(w io.Writer, rows []h2Row) {
	fmt.Fprintln(w, "HTTP/2 (ForceAttemptHTTP2): requests at once to an h2 origin, one connection each row")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\trequests\tprotocol\torigin connections\tproxy received\tok")
	for _, r := range rows {
		ok := "yes"
		if !r.OK {
			ok = "NO " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\n", r.Row, r.Requests, r.Protocols, r.OriginConns, r.ProxySaw, ok)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
