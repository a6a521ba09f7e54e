package pac_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/pac"
)

// A PAC script as a ferry.Transport's proxy list.
func Example() {
	script, err := pac.New([]byte(`
		function FindProxyForURL(url, host) {
			if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example"))
				return "DIRECT";
			return "PROXY proxy1.corp.example:3128; PROXY proxy2.corp.example:3128; DIRECT";
		}`), pac.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: &ferry.Transport{ProxyList: script.ProxyList}}
	_ = client // client.Get(...) tries proxy1, then proxy2, then direct.

	target, _ := url.Parse("https://www.example.com/private?token=1")
	answer, routes, _ := script.Decide(context.Background(), target)
	fmt.Println(answer)
	fmt.Println(len(routes), routes[0], routes[2] == nil)
	// Output:
	// PROXY proxy1.corp.example:3128; PROXY proxy2.corp.example:3128; DIRECT
	// 3 http://proxy1.corp.example:3128 true
}
