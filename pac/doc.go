// Package pac evaluates proxy auto-config (PAC) scripts for ferry: it turns
// a script's FindProxyForURL into the function Transport.ProxyList takes.
//
//	script, err := pac.LoadFile("/etc/proxy.pac", pac.Options{})
//	...
//	client := &http.Client{Transport: &ferry.Transport{ProxyList: script.ProxyList}}
//
// The script runs in goja, a JavaScript engine in pure Go. The helper
// functions Chromium offers (isPlainHostName, dnsDomainIs, shExpMatch,
// isInNet, dnsResolve, myIpAddress, weekdayRange, dateRange, timeRange, ...
// and Microsoft's IPv6 ones: FindProxyForURLEx, dnsResolveEx, isInNetEx,
// sortIpAddressList, ...) are written in Go; the resolver and the clock they
// use can be injected (Options).
//
// Chromium's privacy rules apply: an https URL reaches the script as
// scheme://host:port/ only (no path, query or credentials), and loopback and
// link-local targets (localhost, 127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10)
// go direct without asking the script.
//
// Limits keep a bad script from hurting the program: a script larger than
// 1 MiB is refused; each evaluation has a deadline (Options.Timeout, 1 s by
// default) after which the JavaScript runtime is interrupted and thrown away,
// never reused (a builtin such as a huge String.prototype.repeat does not
// stop at an interrupt, so its goroutine is left to finish alone); at most
// Options.MaxStuck such evaluations may be left running, after which
// evaluations fail at once instead of piling up; the DNS helpers have a
// timeout of their own. The URL is passed to the script as an argument, never
// spliced into its source. Answers are cached for a short time
// (Options.CacheTTL) per URL as the script sees it, so per scheme://host:port
// for https. A small pool of runtimes (Options.Runtimes) serves concurrent
// requests, each runtime one goroutine at a time.
//
// No WPAD: a script is loaded from bytes, a file or an https URL that the
// caller names. Automatic discovery resolves a well-known name in the local
// domain, which whoever controls that name (or the network) can answer.
package pac
