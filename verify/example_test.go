package verify_test

import (
	"crypto/tls"
	"fmt"

	"github.com/ferryhttp/ferry/verify"
)

// A policy that pins the peer's certificate: a match verifies it even when
// its CA is private.
func ExamplePolicy_Config() {
	p := verify.Policy{Fingerprint: "sha256/" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
	cfg, err := p.Config(&tls.Config{}, "internal.example")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ServerName, p.Verifies(nil))
	// Output: internal.example true
}
