package proxyauth

// SetCnonce fixes the client nonce of d, to replay the RFCs' examples.
func SetCnonce(d *Digest, cnonce string) { d.cnonce = func() string { return cnonce } }
