package verify_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ferryhttp/ferry/verify"
)

// The connection layer's use of a Policy: build the config for the peer,
// handshake, and ask whether success means the peer was verified. The server
// here has a self-signed certificate for example.com and 127.0.0.1.
func ExamplePolicy() {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	pin := "sha256/" + verify.FingerprintOf(srv.Certificate())

	connect := func(policy verify.Policy, base *tls.Config, host string) {
		cfg, err := policy.Config(base, host)
		if err != nil {
			fmt.Println(err)
			return
		}
		nc, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer nc.Close()
		err = tls.Client(nc, cfg).Handshake()
		var pme *verify.PinMismatchError
		var cve *tls.CertificateVerificationError
		switch {
		case err == nil:
			fmt.Println("connected, verified:", policy.Verifies(base))
		case errors.As(err, &pme):
			fmt.Println("pin mismatch")
		case errors.As(err, &cve):
			fmt.Println("certificate refused")
		default:
			fmt.Println(err)
		}
	}

	connect(verify.Policy{}, nil, "127.0.0.1")                           // system roots
	connect(verify.Policy{RootCAs: roots}, nil, "127.0.0.1")             // trusted roots, IP checked
	connect(verify.Policy{}, &tls.Config{RootCAs: roots}, "example.com") // roots from the base config
	connect(verify.Policy{RootCAs: roots}, nil, "gateway.internal")      // name not in the certificate
	connect(verify.Policy{RootCAs: roots, AssertHostname: "example.com"}, nil, "gateway.internal")
	connect(verify.Policy{Fingerprint: pin}, nil, "127.0.0.1")                      // pinned: no roots needed
	connect(verify.Policy{Fingerprint: strings.Repeat("00", 32)}, nil, "127.0.0.1") // wrong pin
	connect(verify.Policy{InsecureSkipVerify: true}, nil, "127.0.0.1")              // nothing checked
	connect(verify.Policy{Fingerprint: "sha1/0123"}, nil, "127.0.0.1")              // malformed pin
	// Output:
	// certificate refused
	// connected, verified: true
	// connected, verified: true
	// certificate refused
	// connected, verified: true
	// connected, verified: true
	// pin mismatch
	// connected, verified: false
	// verify: malformed certificate fingerprint "sha1/0123": not hex
}

func ExampleParseFingerprint() {
	// Upper case with colons, as `openssl x509 -noout -fingerprint -sha256`
	// prints it.
	b, err := verify.ParseFingerprint("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF")
	fmt.Printf("%x %v\n", b, err)
	_, err = verify.ParseFingerprint("da39a3ee5e6b4b0d3255bfef95601890afd80709") // a SHA-1
	fmt.Println(errors.Is(err, verify.ErrBadFingerprint))
	// Output:
	// 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff <nil>
	// true
}
