package verify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/verify"
)

// testServer is a TLS server on loopback that records the SNI of each
// handshake. Its config is kept across handshakes so sessions resume.
type testServer struct {
	t   testing.TB
	cfg *tls.Config

	mu     sync.Mutex
	sni    []string // guarded by mu
	offers int      // session tickets offered by clients; guarded by mu
}

// newServer returns a server presenting cert, speaking at most maxVersion
// (0: crypto/tls's default).
func newServer(t testing.TB, cert tls.Certificate, maxVersion uint16) *testServer {
	s := &testServer{t: t}
	s.cfg = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MaxVersion:   maxVersion,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = append(s.sni, h.ServerName)
			s.mu.Unlock()
			return nil, nil
		},
	}
	s.cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		if len(identity) > 0 { // TLS 1.2 clients offer empty tickets too
			s.mu.Lock()
			s.offers++
			s.mu.Unlock()
		}
		return s.cfg.DecryptTicket(identity, cs)
	}
	if maxVersion != 0 && maxVersion < tls.VersionTLS12 {
		s.cfg.MinVersion = tls.VersionTLS10
	}
	return s
}

// lastSNI returns the SNI of the last handshake ("" when none was sent).
func (s *testServer) lastSNI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sni) == 0 {
		return "<no handshake>"
	}
	return s.sni[len(s.sni)-1]
}

// resumeOffers returns how many handshakes offered a session to resume.
func (s *testServer) resumeOffers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers
}

// handshake connects to s over loopback with cfg and returns the client's
// state. On success it reads one byte the server writes, so that TLS 1.3
// session tickets are processed, then closes.
func (s *testServer) handshake(cfg *tls.Config) (tls.ConnectionState, error) {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, s.cfg)
		if tc.Handshake() != nil {
			return
		}
		if _, err := tc.Write([]byte("x")); err != nil {
			return
		}
		io.Copy(io.Discard, tc) // until the client closes
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
		s.t.Fatalf("reading after the handshake: %v", err)
	}
	return tc.ConnectionState(), nil
}

// classify names the kind of a handshake error, as the tables want it.
func classify(err error) string {
	var pme *verify.PinMismatchError
	var cve *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pme):
		if !errors.As(err, &cve) {
			return "pin mismatch, not in a *tls.CertificateVerificationError"
		}
		return "pin mismatch"
	case errors.As(err, &cve):
		if len(cve.UnverifiedCertificates) == 0 {
			return "cert: no UnverifiedCertificates: " + cve.Error()
		}
		var inv x509.CertificateInvalidError
		switch {
		case errors.As(cve.Err, new(x509.UnknownAuthorityError)), errors.As(cve.Err, new(x509.SystemRootsError)):
			return "cert: untrusted"
		case errors.As(cve.Err, new(x509.HostnameError)):
			return "cert: wrong name"
		case errors.As(cve.Err, &inv) && inv.Reason == x509.Expired:
			return "cert: expired"
		}
		return "cert: " + cve.Err.Error()
	case errors.As(err, &op) && op.Op == "remote error":
		return "alert: " + op.Err.Error()
	}
	return "other: " + err.Error()
}

// TestHarness shows the server, the handshake and classify work with a plain
// crypto/tls client, without verify.
func TestHarness(t *testing.T) {
	p := newPKI(t)
	type result struct{ SNI, Err string }
	run := func(cert tls.Certificate, maxVersion uint16, cfg *tls.Config) result {
		s := newServer(t, cert, maxVersion)
		_, err := s.handshake(cfg)
		return result{s.lastSNI(), classify(err)}
	}
	got := map[string]result{
		"trusted":      run(p.good, 0, &tls.Config{ServerName: "localhost", RootCAs: p.roots}),
		"untrusted":    run(p.private, 0, &tls.Config{ServerName: "localhost", RootCAs: p.roots}),
		"wrong name":   run(p.wrongName, 0, &tls.Config{ServerName: "localhost", RootCAs: p.roots}),
		"expired":      run(p.expired, 0, &tls.Config{ServerName: "localhost", RootCAs: p.roots}),
		"old server":   run(p.good, tls.VersionTLS12, &tls.Config{ServerName: "localhost", RootCAs: p.roots, MinVersion: tls.VersionTLS13}),
		"ip, no SNI":   run(p.good, 0, &tls.Config{ServerName: "127.0.0.1", RootCAs: p.roots}),
		"intermediate": run(p.intermediate, 0, &tls.Config{ServerName: "localhost", RootCAs: p.roots}),
	}
	want := map[string]result{
		"trusted":      {SNI: "localhost"},
		"untrusted":    {SNI: "localhost", Err: "cert: untrusted"},
		"wrong name":   {SNI: "localhost", Err: "cert: wrong name"},
		"expired":      {SNI: "localhost", Err: "cert: expired"},
		"old server":   {SNI: "localhost", Err: "alert: tls: protocol version not supported"},
		"ip, no SNI":   {SNI: ""},
		"intermediate": {SNI: "localhost"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("crypto/tls handshakes (-want +got):\n%s", diff)
	}
}
