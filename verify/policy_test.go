package verify_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/verify"
)

// handshakeResult is what one handshake with a policy's config did.
type handshakeResult struct {
	SNI      string // what the server received; "" when none was sent
	Err      string // classify(err)
	Verifies bool   // policy.Verifies(base)
}

// policyCase is a policy applied to base for host, against a server
// presenting peer.
type policyCase struct {
	name       string
	peer       func(*pki) tls.Certificate
	maxVersion uint16 // of the server; 0: crypto/tls's default
	policy     verify.Policy
	base       func(*pki) *tls.Config // nil: a nil base
	host       string
	want       handshakeResult
}

func (c policyCase) String() string {
	return fmt.Sprintf("Policy%+v.Config(base, %q) against a TLS<=%#x server", c.policy, c.host, c.maxVersion)
}

func TestPolicyHandshakes(t *testing.T) {
	p := newPKI(t)
	good := func(p *pki) tls.Certificate { return p.good }
	intermediate := func(p *pki) tls.Certificate { return p.intermediate }
	expired := func(p *pki) tls.Certificate { return p.expired }
	wrongName := func(p *pki) tls.Certificate { return p.wrongName }
	selfSigned := func(p *pki) tls.Certificate { return p.selfSigned }
	private := func(p *pki) tls.Certificate { return p.private }
	trusting := func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots} }

	pin := func(c tls.Certificate) string { return verify.FingerprintOf(c.Leaf) }
	withColons := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		return b.String()
	}

	ok := handshakeResult{SNI: "localhost", Verifies: true}
	fails := func(err string) handshakeResult { return handshakeResult{SNI: "localhost", Err: err, Verifies: true} }

	cases := []policyCase{
		// The zero policy is crypto/tls's verification: our test root is
		// not among the system roots.
		{name: "zero-policy-system-roots", peer: good, host: "localhost", want: fails("cert: untrusted")},
		{name: "good-chain", peer: good, policy: verify.Policy{RootCAs: p.roots}, host: "localhost", want: ok},
		{name: "good-chain-roots-from-base", peer: good, base: trusting, host: "localhost", want: ok},
		{name: "policy-roots-replace-base", peer: good, policy: verify.Policy{RootCAs: x509.NewCertPool()}, base: trusting, host: "localhost", want: fails("cert: untrusted")},
		{name: "policy-roots-over-empty-base", peer: good, policy: verify.Policy{RootCAs: p.roots}, base: func(*pki) *tls.Config { return &tls.Config{RootCAs: x509.NewCertPool()} }, host: "localhost", want: ok},
		{name: "intermediate-from-peer-chain", peer: intermediate, base: trusting, host: "localhost", want: ok},

		// IP hosts: no SNI, the IP checked against the IP SANs.
		{name: "ipv4-host", peer: good, base: trusting, host: "127.0.0.1", want: handshakeResult{Verifies: true}},
		{name: "ipv6-host", peer: good, base: trusting, host: "::1", want: handshakeResult{Verifies: true}},
		{name: "ipv6-host-bracketed", peer: good, base: trusting, host: "[::1]", want: handshakeResult{Verifies: true}},
		{name: "ipv4-host-wrong-name", peer: wrongName, base: trusting, host: "127.0.0.1", want: handshakeResult{Err: "cert: wrong name", Verifies: true}},
		{name: "ipv4-host-server-name-from-policy", peer: good, policy: verify.Policy{ServerName: "localhost"}, base: trusting, host: "127.0.0.1", want: ok},
		{name: "ip-server-name-from-base", peer: good, base: func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1"} }, host: "localhost", want: handshakeResult{Verifies: true}},

		// SNI and the name checked.
		{name: "wrong-name", peer: wrongName, base: trusting, host: "localhost", want: fails("cert: wrong name")},
		{name: "wrong-name-assert-hostname", peer: wrongName, policy: verify.Policy{AssertHostname: "other.test"}, base: trusting, host: "localhost", want: ok},
		{name: "assert-hostname-mismatch", peer: good, policy: verify.Policy{AssertHostname: "other.test"}, base: trusting, host: "localhost", want: fails("cert: wrong name")},
		{name: "assert-hostname-ip", peer: good, policy: verify.Policy{AssertHostname: "127.0.0.1"}, base: trusting, host: "gateway.internal",
			want: handshakeResult{SNI: "gateway.internal", Verifies: true}},
		{name: "assert-hostname-does-not-relax-chain", peer: private, policy: verify.Policy{AssertHostname: "localhost"}, base: trusting, host: "localhost", want: fails("cert: untrusted")},
		{name: "server-name-from-policy", peer: wrongName, policy: verify.Policy{ServerName: "other.test"}, base: trusting, host: "localhost",
			want: handshakeResult{SNI: "other.test", Verifies: true}},
		{name: "server-name-from-base", peer: wrongName, base: func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots, ServerName: "other.test"} }, host: "localhost",
			want: handshakeResult{SNI: "other.test", Verifies: true}},
		{name: "policy-server-name-over-base", peer: good, policy: verify.Policy{ServerName: "localhost"}, base: func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots, ServerName: "other.test"} }, host: "other.test", want: ok},

		// Validity.
		{name: "expired", peer: expired, base: trusting, host: "localhost", want: fails("cert: expired")},
		{name: "expired-but-base-time-within", peer: expired, base: func(p *pki) *tls.Config {
			return &tls.Config{RootCAs: p.roots, Time: func() time.Time { return time.Now().Add(-36 * time.Hour) }}
		}, host: "localhost", want: ok},
		{name: "self-signed", peer: selfSigned, base: trusting, host: "localhost", want: fails("cert: untrusted")},
		{name: "private-ca", peer: private, base: trusting, host: "localhost", want: fails("cert: untrusted")},

		// Pinning replaces the chain and name checks.
		{name: "pin-private-ca", peer: private, policy: verify.Policy{Fingerprint: pin(p.private)}, base: trusting, host: "localhost", want: ok},
		{name: "pin-self-signed-system-roots", peer: selfSigned, policy: verify.Policy{Fingerprint: pin(p.selfSigned)}, host: "localhost", want: ok},
		{name: "pin-wrong-name", peer: wrongName, policy: verify.Policy{Fingerprint: pin(p.wrongName)}, host: "localhost", want: ok},
		{name: "pin-expired", peer: expired, policy: verify.Policy{Fingerprint: pin(p.expired)}, host: "localhost", want: ok},
		{name: "pin-mismatch-trusted-chain", peer: good, policy: verify.Policy{Fingerprint: pin(p.private)}, base: trusting, host: "localhost", want: fails("pin mismatch")},
		{name: "pin-mismatch-private-ca", peer: private, policy: verify.Policy{Fingerprint: pin(p.good)}, host: "localhost", want: fails("pin mismatch")},
		{name: "pin-upper-case", peer: selfSigned, policy: verify.Policy{Fingerprint: strings.ToUpper(pin(p.selfSigned))}, host: "localhost", want: ok},
		{name: "pin-colons", peer: selfSigned, policy: verify.Policy{Fingerprint: withColons(pin(p.selfSigned))}, host: "localhost", want: ok},
		{name: "pin-prefix-colons-upper", peer: selfSigned, policy: verify.Policy{Fingerprint: "SHA256/" + strings.ToUpper(withColons(pin(p.selfSigned)))}, host: "localhost", want: ok},
		{name: "pin-prefix", peer: selfSigned, policy: verify.Policy{Fingerprint: "sha256/" + pin(p.selfSigned)}, host: "localhost", want: ok},

		// Verification off.
		{name: "insecure", peer: selfSigned, policy: verify.Policy{InsecureSkipVerify: true}, host: "localhost", want: handshakeResult{SNI: "localhost"}},
		{name: "insecure-wrong-name-expired", peer: expired, policy: verify.Policy{InsecureSkipVerify: true}, host: "other.test", want: handshakeResult{SNI: "other.test"}},
		{name: "insecure-from-base", peer: expired, base: func(*pki) *tls.Config { return &tls.Config{InsecureSkipVerify: true} }, host: "localhost", want: handshakeResult{SNI: "localhost"}},
		{name: "insecure-with-pin", peer: selfSigned, policy: verify.Policy{InsecureSkipVerify: true, Fingerprint: pin(p.selfSigned)}, host: "localhost", want: ok},
		{name: "insecure-with-pin-mismatch", peer: selfSigned, policy: verify.Policy{InsecureSkipVerify: true, Fingerprint: pin(p.good)}, host: "localhost", want: fails("pin mismatch")},
		{name: "insecure-base-with-pin-mismatch", peer: selfSigned, policy: verify.Policy{Fingerprint: pin(p.good)}, base: func(*pki) *tls.Config { return &tls.Config{InsecureSkipVerify: true} }, host: "localhost", want: fails("pin mismatch")},

		// Versions: the highest minimum wins.
		{name: "min-tls13-against-tls12-server", peer: good, maxVersion: tls.VersionTLS12, policy: verify.Policy{MinVersion: tls.VersionTLS13}, base: trusting, host: "localhost",
			want: fails("alert: tls: protocol version not supported")},
		{name: "min-tls13-against-tls13-server", peer: good, policy: verify.Policy{MinVersion: tls.VersionTLS13}, base: trusting, host: "localhost", want: ok},
		{name: "base-min-tls13-not-lowered", peer: good, maxVersion: tls.VersionTLS12, policy: verify.Policy{MinVersion: tls.VersionTLS12},
			base: func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS13} }, host: "localhost",
			want: fails("alert: tls: protocol version not supported")},
		{name: "base-min-tls10-raised-to-tls12", peer: good, maxVersion: tls.VersionTLS11,
			base: func(p *pki) *tls.Config { return &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS10} }, host: "localhost",
			want: fails("alert: tls: protocol version not supported")},
		{name: "min-tls12-against-tls12-server", peer: good, maxVersion: tls.VersionTLS12, base: trusting, host: "localhost", want: ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var base *tls.Config
			if tc.base != nil {
				base = tc.base(p)
			}
			cfg, err := tc.policy.Config(base, tc.host)
			if err != nil {
				t.Fatalf("%v: %v", tc, err)
			}
			s := newServer(t, tc.peer(p), tc.maxVersion)
			_, err = s.handshake(cfg)
			got := handshakeResult{SNI: s.lastSNI(), Err: classify(err), Verifies: tc.policy.Verifies(base)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%v (error: %v)\n(-want +got):\n%s", tc, err, diff)
			}
		})
	}
}

func TestPinMismatchError(t *testing.T) {
	p := newPKI(t)
	want, got := verify.FingerprintOf(p.good.Leaf), verify.FingerprintOf(p.private.Leaf)
	cfg, err := verify.Policy{Fingerprint: "SHA256/" + strings.ToUpper(want)}.Config(nil, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newServer(t, p.private, 0).handshake(cfg)
	var pme *verify.PinMismatchError
	if !errors.As(err, &pme) {
		t.Fatalf("handshake error %v, want a *PinMismatchError", err)
	}
	if diff := cmp.Diff(verify.PinMismatchError{Want: want, Got: got}, *pme); diff != "" {
		t.Errorf("PinMismatchError (-want +got):\n%s", diff)
	}
	wantMsg := "verify: certificate fingerprint mismatch: want sha256/" + want + ", got sha256/" + got
	if diff := cmp.Diff(wantMsg, pme.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || len(cve.UnverifiedCertificates) == 0 || !cve.UnverifiedCertificates[0].Equal(p.private.Leaf) {
		t.Errorf("handshake error %v: want a *tls.CertificateVerificationError carrying the peer's chain", err)
	}
}

// configView is the part of a tls.Config that Config decides.
type configView struct {
	ServerName         string
	MinVersion         uint16
	RootCAs            string // "policy", "base" or "system"
	InsecureSkipVerify bool
	VerifyConnection   bool // set
	VerifyPeerCert     bool // set
}

func TestConfigFields(t *testing.T) {
	policyPool, basePool := x509.NewCertPool(), x509.NewCertPool()
	view := func(cfg *tls.Config) configView {
		v := configView{
			ServerName:         cfg.ServerName,
			MinVersion:         cfg.MinVersion,
			RootCAs:            "system",
			InsecureSkipVerify: cfg.InsecureSkipVerify,
			VerifyConnection:   cfg.VerifyConnection != nil,
			VerifyPeerCert:     cfg.VerifyPeerCertificate != nil,
		}
		switch cfg.RootCAs {
		case policyPool:
			v.RootCAs = "policy"
		case basePool:
			v.RootCAs = "base"
		}
		return v
	}
	verifyPeer := func([][]byte, [][]*x509.Certificate) error { return nil }
	cases := []struct {
		name   string
		policy verify.Policy
		base   *tls.Config
		host   string
		want   configView
	}{
		{name: "zero", host: "example.com",
			want: configView{ServerName: "example.com", MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "ip", host: "192.0.2.1",
			want: configView{MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "ipv6-zone", host: "fe80::1%eth0",
			want: configView{MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "policy-over-base", host: "h.test",
			policy: verify.Policy{MinVersion: tls.VersionTLS13, RootCAs: policyPool, ServerName: "p.test"},
			base:   &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: basePool, ServerName: "b.test"},
			want:   configView{ServerName: "p.test", MinVersion: tls.VersionTLS13, RootCAs: "policy", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "base-over-host", host: "h.test",
			base: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: basePool, ServerName: "b.test"},
			want: configView{ServerName: "b.test", MinVersion: tls.VersionTLS13, RootCAs: "base", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "base-tls10-raised", host: "h.test",
			base: &tls.Config{MinVersion: tls.VersionTLS10},
			want: configView{ServerName: "h.test", MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "policy-tls10-ignored", host: "h.test",
			policy: verify.Policy{MinVersion: tls.VersionTLS10},
			want:   configView{ServerName: "h.test", MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "assert-hostname-keeps-sni", host: "h.test",
			policy: verify.Policy{AssertHostname: "a.test"},
			want:   configView{ServerName: "h.test", MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		// The caller's VerifyPeerCertificate moves into VerifyConnection,
		// after the policy's checks.
		{name: "caller-callbacks-moved", host: "h.test",
			base: &tls.Config{VerifyPeerCertificate: verifyPeer, VerifyConnection: func(tls.ConnectionState) error { return nil }},
			want: configView{ServerName: "h.test", MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "no-name-insecure", policy: verify.Policy{InsecureSkipVerify: true},
			want: configView{MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
		{name: "no-name-pinned", policy: verify.Policy{Fingerprint: strings.Repeat("0", 64)},
			want: configView{MinVersion: tls.VersionTLS12, RootCAs: "system", InsecureSkipVerify: true, VerifyConnection: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.policy.Config(tc.base, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, view(cfg)); diff != "" {
				t.Errorf("Policy%+v.Config(%v, %q) (-want +got):\n%s", tc.policy, tc.base != nil, tc.host, diff)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		policy verify.Policy
		base   *tls.Config
		host   string
		want   error
	}{
		{name: "malformed-fingerprint", policy: verify.Policy{Fingerprint: "sha256/nope"}, host: "h.test", want: verify.ErrBadFingerprint},
		{name: "sha1-fingerprint", policy: verify.Policy{Fingerprint: strings.Repeat("ab", 20)}, host: "h.test", want: verify.ErrBadFingerprint},
		{name: "malformed-fingerprint-insecure", policy: verify.Policy{Fingerprint: "x", InsecureSkipVerify: true}, host: "h.test", want: verify.ErrBadFingerprint},
		{name: "no-name", want: verify.ErrNoServerName},
		{name: "no-name-empty-base", base: &tls.Config{}, want: verify.ErrNoServerName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.policy.Config(tc.base, tc.host)
			if !errors.Is(err, tc.want) || cfg != nil {
				t.Errorf("Policy%+v.Config(base, %q) = %v, %v; want nil, %v", tc.policy, tc.host, cfg, err, tc.want)
			}
		})
	}
}

// baseView is what a test can see of a base config to tell it was not changed.
type baseView struct {
	ServerName            string
	MinVersion            uint16
	MaxVersion            uint16
	RootCAs               *x509.CertPool
	InsecureSkipVerify    bool
	VerifyPeerCertificate bool
	VerifyConnection      bool
	NextProtos            []string
}

func viewBase(c *tls.Config) baseView {
	return baseView{
		ServerName:            c.ServerName,
		MinVersion:            c.MinVersion,
		MaxVersion:            c.MaxVersion,
		RootCAs:               c.RootCAs,
		InsecureSkipVerify:    c.InsecureSkipVerify,
		VerifyPeerCertificate: c.VerifyPeerCertificate != nil,
		VerifyConnection:      c.VerifyConnection != nil,
		NextProtos:            c.NextProtos,
	}
}

func TestConfigDoesNotMutateBase(t *testing.T) {
	p := newPKI(t)
	bases := map[string]func() *tls.Config{
		"empty":    func() *tls.Config { return &tls.Config{} },
		"insecure": func() *tls.Config { return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} },
		"full": func() *tls.Config {
			return &tls.Config{
				ServerName: "other.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS13,
				RootCAs: x509.NewCertPool(), NextProtos: []string{"http/1.1"},
				VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return nil },
				VerifyConnection:      func(tls.ConnectionState) error { return nil },
			}
		},
	}
	policy := verify.Policy{
		MinVersion: tls.VersionTLS13, RootCAs: p.roots, ServerName: "localhost",
		AssertHostname: "localhost", Fingerprint: verify.FingerprintOf(p.good.Leaf), InsecureSkipVerify: true,
	}
	for name, mk := range bases {
		t.Run(name, func(t *testing.T) {
			base := mk()
			want := viewBase(mk())
			want.RootCAs = base.RootCAs
			cfg, err := policy.Config(base, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			if cfg == base {
				t.Fatal("Config returned base itself")
			}
			if _, err := newServer(t, p.good, 0).handshake(cfg); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if diff := cmp.Diff(want, viewBase(base), cmp.Comparer(func(a, b *x509.CertPool) bool { return a == b })); diff != "" {
				t.Errorf("base after Config and a handshake (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifies(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	cases := []struct {
		name   string
		policy verify.Policy
		base   *tls.Config
		want   bool
	}{
		{name: "zero", want: true},
		{name: "zero-empty-base", base: &tls.Config{}, want: true},
		{name: "policy-insecure", policy: verify.Policy{InsecureSkipVerify: true}, want: false},
		{name: "base-insecure", base: &tls.Config{InsecureSkipVerify: true}, want: false},
		{name: "pinned", policy: verify.Policy{Fingerprint: pin}, want: true},
		{name: "pinned-policy-insecure", policy: verify.Policy{Fingerprint: pin, InsecureSkipVerify: true}, want: true},
		{name: "pinned-base-insecure", policy: verify.Policy{Fingerprint: pin}, base: &tls.Config{InsecureSkipVerify: true}, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.policy.Verifies(tc.base)); diff != "" {
				t.Errorf("Policy%+v.Verifies (-want +got):\n%s", tc.policy, diff)
			}
		})
	}
}
