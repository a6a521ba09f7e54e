// Package conn is one HTTP/1.1 connection to its first origin: the target of
// a request, or the proxy it goes through. It follows urllib3's HTTPConnection:
//
//	c := conn.New(first, proxyURL, &opts)  // first origin: target or proxy
//	c.SetTunnel(host, port, scheme, hdr)  // CONNECT through the proxy (tunnel mode)
//	err := c.Connect(ctx)                 // dial, TLS to an https proxy, CONNECT, TLS to the target
//	err = c.Request(ctx, req, ropts)      // absolute form when ropts.Forward
//	resp, err := c.GetResponse(ctx)       // 1xx skipped; early answers heard during the upload
//	... read resp.Body ...; c.Release()   // or c.Close(), after which Connect works again
//
// Connect is bounded by ConnectTimeout, every wait for response bytes by
// ReadTimeout. Failures that are the proxy's come back as *ProxyError. The
// wire format is the standard library's (Request.Write, Request.WriteProxy,
// http.ReadResponse); conn adds the connection lifecycle around it.
//
// Broken-pipe-tolerant sending: a request body is written by a goroutine
// while the caller reads the response. A final response that arrives before
// the body is done stops the write; a write that fails with EPIPE or
// ECONNRESET does not hide a response the server sent. Either way the
// response is returned and the connection is not reused.
//
// Proxy authentication: with SetProxyAuth, Connect answers a CONNECT's 407
// itself (on the same connection when the proxy kept it open, else on a new
// one), and the ProxyAuth's state lives as long as the connection (reset by
// Close), so a scheme that authenticates the connection (NTLM, Negotiate)
// does so once. Forwarded requests' 407s are the Transport's to answer.
//
// HTTP/2: when the target chose h2 in ALPN, H2Engine.ClientConn hands the
// finished connection to the standard library's HTTP/2 engine
// (http.Transport.NewClientConn), and H2Peer reports the server's
// MAX_CONCURRENT_STREAMS, read from its first SETTINGS frame as the bytes
// pass to the engine.
//
// Package pool keeps Conns for reuse; package ferry's Transport drives both.
package conn
