package ferry_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// A proxy list, as a PAC file answers: the first proxy is down, so the
// request goes through the second; nothing of it reached the first.
func ExampleTransport_proxyList() {
	s := startServers()
	defer s.stop()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	second := mustParse(s.httpProxy.URL).Host

	routes, err := proxyconfig.ParsePAC("PROXY " + dead + "; PROXY " + second + "; DIRECT")
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: &ferry.Transport{
		ProxyList: func(*http.Request) ([]*url.URL, error) { return routes, nil },
	}}
	resp, err := client.Get(s.plain.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	info, _ := ferry.ConnInfoOf(resp)
	fmt.Println(string(body), info.Mode, info.Proxy.Host == second, len(info.Skipped))
	// Output: hello forward true 1
}
