// Command ferry shows the ferry transport at work.
//
//	ferry demo [-json]     every row of the mode table, on loopback, in seconds
//	ferry get [flags] URL  a curl-like client built on ferry.Transport
//	ferry help             this text
//
// Exit codes: 0 success; 1 the demo found a row that did not behave as the
// table says; 2 usage error; 5 the proxy failed (a *ferry.ProxyError); 7 the
// origin or the network failed; 22 an HTTP status of 400 or more with --fail;
// 28 a timeout at the origin.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes, documented in the package comment and in usage.
const (
	exitOK       = 0
	exitDemo     = 1
	exitUsage    = 2
	exitProxy    = 5
	exitOrigin   = 7
	exitHTTP     = 22
	exitTimeout  = 28
	exitInternal = 70
)

const usage = `ferry: an http.RoundTripper with urllib3's proxy semantics

usage:
  ferry demo [-json]        run every row of the mode table on loopback and check it
  ferry get [flags] URL     fetch URL through ferry.Transport (curl-like)
  ferry help                show this text

get flags:
  -x, --proxy URL           proxy (default: HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY)
  -H, --header 'K: V'       request header (repeatable)
      --proxy-header 'K: V' header for the proxy: CONNECT or forwarded request (repeatable)
      --forward-https       send https:// URLs to an https proxy in absolute form
      --cacert FILE         CA certificates (PEM) for the origin
      --proxy-cacert FILE   CA certificates (PEM) for an https proxy
      --pin SHA256          pin the origin's leaf certificate (hex SHA-256)
      --proxy-pin SHA256    pin the proxy's leaf certificate
  -k, --insecure            do not verify the origin's certificate
      --connect-timeout D   bound dial, TLS and CONNECT (e.g. 5s)
      --read-timeout D      bound every wait for response bytes
  -X, --request METHOD      method (default GET, or POST with -d)
  -d, --data DATA           body: literal text, @FILE, or - for standard input
  -o, --output FILE         write the body to FILE instead of standard output
  -f, --fail                exit 22 on an HTTP status of 400 or more
  -v, --verbose             mode, proxy, CONNECT, TLS and timings on standard error

exit codes:
  0 success, 1 demo row failed, 2 usage, 5 proxy failure, 7 origin/network failure,
  22 HTTP status >= 400 with --fail, 28 timeout at the origin
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "get":
		return runGet(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
