// Command ferry shows the ferry transport at work.
//
//	ferry demo [-json]       every row of the mode table, on loopback, in seconds
//	ferry get [flags] URL    a curl-like client built on ferry.Transport
//	ferry bench [flags] URL  ferry against net/http on one URL, in one process
//	ferry serve [flags]      loopback origins (http, https) and a proxy to bench against
//	ferry help               this text
//
// Exit codes go by cause, as curl's: 0 success; 1 the demo found a row that
// did not behave as the table says; 2 a usage error or an invalid setting
// (a bad flag, URL, proxy URL from -x or the environment, pin or header),
// found before anything is dialled; 5 the proxy failed (a
// *ferry.ProxyError); 7 the origin or the network failed; 22 an HTTP
// status of 400 or more with --fail; 23 the output could not be written;
// 26 the -d file could not be read; 28 a timeout, at either peer; 47 too
// many redirects with -L; 60 a certificate that did not verify, at either
// peer; 130 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the package comment, in usage and in the README.
const (
	exitOK          = 0
	exitDemo        = 1
	exitUsage       = 2
	exitProxy       = 5
	exitOrigin      = 7
	exitHTTP        = 22
	exitWrite       = 23
	exitRead        = 26
	exitTimeout     = 28
	exitRedirects   = 47
	exitCert        = 60
	exitInternal    = 70
	exitInterrupted = 130
)

const usage = `ferry: an http.RoundTripper with urllib3's proxy semantics

usage:
  ferry demo [-json]        run every row of the mode table on loopback and check it
  ferry get [flags] URL     fetch URL through ferry.Transport (curl-like)
  ferry bench [flags] URL   load URL with ferry and net/http, interleaved, and compare
  ferry serve [flags]       serve loopback origins and a proxy for ferry bench
  ferry help                show this text

ferry get -h, ferry bench -h and ferry serve -h list their flags.

` + exitCodes

// exitCodes ends the help of ferry and of its commands.
const exitCodes = `exit codes:
  0 success            1 demo row failed        2 usage or invalid setting
  5 proxy failure      7 origin/network failure 22 HTTP status >= 400 with --fail
  23 write error       26 read error (-d @FILE) 28 timeout (either peer)
  47 too many redirects (-L)  60 certificate not verified (either peer)  130 interrupted
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, with its streams and a context that Ctrl-C
// cancels, so tests drive it as a user would.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "get":
		return runGet(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
