// Package proxyconfig holds ferry's proxy settings: the mode table (Select),
// the validation of proxy URLs, tunnel targets and proxy headers before
// anything is sent, the proxy environment variables (Env), and PAC result
// strings ("PROXY a:3128; DIRECT") as ordered routes (ParsePAC).
//
//	proxy    target  mode
//	none     any     Direct
//	http     http    Forward (absolute-form request target)
//	http     https   Tunnel  (CONNECT; never forwarded in clear text)
//	https    http    Forward (over TLS to the proxy)
//	https    https   Tunnel  (TLS in TLS), or Forward with useForwardingForHTTPS
//	socks5*  any     Direct  (the dial goes through SOCKS)
//
// Env separates the variables from reading them, as httpproxy.Config does:
// FromEnvironment reads them, Env.ProxyFunc builds the frozen function once.
package proxyconfig
