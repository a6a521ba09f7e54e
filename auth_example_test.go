package ferry_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyauth"
)

// A proxy that wants Digest: ferry answers its 407 itself, once per
// connection, and reuses the nonce for later requests.
func ExampleTransport_proxyAuth() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer origin.Close()
	proxy, _ := proxytest.New(proxytest.Options{Digest: "alice:s3cret"})
	defer proxy.Close()

	tr := &ferry.Transport{
		Proxy:     http.ProxyURL(proxy.URLWithAuth("alice", "s3cret")),
		ProxyAuth: []proxyauth.Scheme{&proxyauth.Digest{}, proxyauth.Basic{}},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		resp, err := client.Get(origin.URL)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, string(body))
	}
	fmt.Println("407s the proxy sent:", proxy.Challenged())
	// Output:
	// 200 OK hello
	// 200 OK hello
	// 200 OK hello
	// 407s the proxy sent: 1
}
