package verify_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/verify"
)

type peers struct {
	ca                                   *testcert.CA
	good, expired, wrongName, selfSigned tls.Certificate
	privateCA                            *testcert.CA
	private                              tls.Certificate
}

func makePeers(t *testing.T) peers {
	t.Helper()
	must := func(c tls.Certificate, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, err := testcert.NewCA("verify CA")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := testcert.NewCA("private CA")
	if err != nil {
		t.Fatal(err)
	}
	local := testcert.LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	exp := local
	exp.NotBefore, exp.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	return peers{
		ca:         ca,
		good:       must(ca.Leaf(local)),
		expired:    must(ca.Leaf(exp)),
		wrongName:  must(ca.Leaf(testcert.LeafOptions{DNSNames: []string{"other.test"}})),
		selfSigned: must(testcert.SelfSigned(local)),
		privateCA:  priv,
		private:    must(priv.Leaf(local)),
	}
}

// handshake runs a real TLS handshake over loopback between a server with
// cert (at most maxVersion) and a client configured by p.Config(base, host).
func handshake(t *testing.T, cert tls.Certificate, maxVersion uint16, p verify.Policy, base *tls.Config, host string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion})
		s.SetDeadline(time.Now().Add(5 * time.Second))
		s.Handshake()
		s.Read(make([]byte, 1))
	}()
	cfg, err := p.Config(base, host)
	if err != nil {
		return err
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestPolicyHandshakes(t *testing.T) {
	pp := makePeers(t)
	pin := func(c tls.Certificate) string { return verify.FingerprintOf(c.Leaf) }
	colons := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, strings.ToUpper(s[i:i+2]))
		}
		return strings.Join(parts, ":")
	}
	roots := pp.ca.Pool()
	cases := []struct {
		name         string
		peer         tls.Certificate
		maxVersion   uint16
		policy       verify.Policy
		base         *tls.Config
		host         string
		wantErr      string // "", "cert", "pin", "version"
		wantVerifies bool
	}{
		{name: "good-chain", peer: pp.good, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantVerifies: true},
		{name: "good-chain-ip", peer: pp.good, policy: verify.Policy{RootCAs: roots}, host: "127.0.0.1", wantVerifies: true},
		{name: "roots-from-base", peer: pp.good, base: &tls.Config{RootCAs: roots}, host: "localhost", wantVerifies: true},
		{name: "untrusted-ca", peer: pp.private, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantErr: "cert", wantVerifies: true},
		{name: "wrong-name", peer: pp.wrongName, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantErr: "cert", wantVerifies: true},
		{name: "wrong-name-assert-hostname", peer: pp.wrongName, policy: verify.Policy{RootCAs: roots, AssertHostname: "other.test"}, host: "localhost", wantVerifies: true},
		{name: "assert-hostname-mismatch", peer: pp.good, policy: verify.Policy{RootCAs: roots, AssertHostname: "other.test"}, host: "localhost", wantErr: "cert", wantVerifies: true},
		{name: "expired", peer: pp.expired, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantErr: "cert", wantVerifies: true},
		{name: "self-signed", peer: pp.selfSigned, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantErr: "cert", wantVerifies: true},
		{name: "pin-private-ca", peer: pp.private, policy: verify.Policy{RootCAs: roots, Fingerprint: pin(pp.private)}, host: "localhost", wantVerifies: true},
		{name: "pin-colons-upper-prefix", peer: pp.selfSigned, policy: verify.Policy{Fingerprint: "sha256/" + colons(pin(pp.selfSigned))}, host: "localhost", wantVerifies: true},
		{name: "pin-mismatch", peer: pp.good, policy: verify.Policy{RootCAs: roots, Fingerprint: pin(pp.private)}, host: "localhost", wantErr: "pin", wantVerifies: true},
		{name: "pin-with-insecure", peer: pp.selfSigned, policy: verify.Policy{InsecureSkipVerify: true, Fingerprint: pin(pp.selfSigned)}, host: "localhost", wantVerifies: true},
		{name: "pin-mismatch-with-insecure", peer: pp.selfSigned, policy: verify.Policy{InsecureSkipVerify: true, Fingerprint: pin(pp.good)}, host: "localhost", wantErr: "pin", wantVerifies: true},
		{name: "insecure", peer: pp.selfSigned, policy: verify.Policy{InsecureSkipVerify: true}, host: "localhost", wantVerifies: false},
		{name: "insecure-from-base", peer: pp.expired, base: &tls.Config{InsecureSkipVerify: true}, host: "localhost", wantVerifies: false},
		{name: "min-tls13-vs-tls12-server", peer: pp.good, maxVersion: tls.VersionTLS12, policy: verify.Policy{RootCAs: roots, MinVersion: tls.VersionTLS13}, host: "localhost", wantErr: "version", wantVerifies: true},
		{name: "default-min-tls12-vs-tls11-server", peer: pp.good, maxVersion: tls.VersionTLS11, policy: verify.Policy{RootCAs: roots}, host: "localhost", wantErr: "version", wantVerifies: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, tc.peer, tc.maxVersion, tc.policy, tc.base, tc.host)
			var cve *tls.CertificateVerificationError
			var pme *verify.PinMismatchError
			got := ""
			switch {
			case err == nil:
			case errors.As(err, &pme):
				got = "pin"
			case errors.As(err, &cve):
				got = "cert"
			default:
				got = "version"
			}
			if got != tc.wantErr {
				t.Errorf("handshake error %q (%v), want %q", got, err, tc.wantErr)
			}
			if v := tc.policy.Verifies(tc.base); v != tc.wantVerifies {
				t.Errorf("Verifies() = %v, want %v", v, tc.wantVerifies)
			}
			if pme != nil && (pme.Want == "" || pme.Got == "" || !strings.Contains(pme.Error(), pme.Got)) {
				t.Errorf("pin error does not name both fingerprints: %v", pme)
			}
		})
	}
}

func TestConfigDoesNotMutateBase(t *testing.T) {
	base := &tls.Config{ServerName: "base.test", MinVersion: tls.VersionTLS10}
	beforeSNI, beforeMin := base.ServerName, base.MinVersion
	cfg, err := verify.Policy{MinVersion: tls.VersionTLS13, ServerName: "sni.test", RootCAs: x509.NewCertPool()}.Config(base, "host")
	if err != nil {
		t.Fatal(err)
	}
	if base.ServerName != beforeSNI || base.MinVersion != beforeMin || base.RootCAs != nil || base.VerifyConnection != nil {
		t.Error("base config was modified")
	}
	got := struct {
		SNI string
		Min uint16
	}{cfg.ServerName, cfg.MinVersion}
	if diff := cmp.Diff(struct {
		SNI string
		Min uint16
	}{"sni.test", tls.VersionTLS13}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	cfg, _ = verify.Policy{}.Config(nil, "127.0.0.1")
	if cfg.ServerName != "" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("IP host: SNI %q min %x; want no SNI, TLS 1.2", cfg.ServerName, cfg.MinVersion)
	}
}

func TestParseFingerprint(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, s := range []string{hex, strings.ToUpper(hex), "sha256/" + hex, "SHA256/" + hex, strings.Repeat("AB:", 31) + "AB"} {
		if b, err := verify.ParseFingerprint(s); err != nil || len(b) != 32 {
			t.Errorf("ParseFingerprint(%q) = %x, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "abc", hex[:62], hex + "ab", strings.Repeat("zz", 32), "md5/" + hex} {
		if _, err := verify.ParseFingerprint(s); !errors.Is(err, verify.ErrBadFingerprint) {
			t.Errorf("ParseFingerprint(%q) err = %v, want ErrBadFingerprint", s, err)
		}
	}
	if _, err := (verify.Policy{Fingerprint: "nope"}).Config(nil, "h"); !errors.Is(err, verify.ErrBadFingerprint) {
		t.Errorf("Config with a bad pin: %v", err)
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("sha256/" + strings.Repeat("AB:", 31) + "AB")
	f.Add("")
	f.Add("sha256/")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := verify.ParseFingerprint(s)
		if err == nil && len(b) != 32 {
			t.Fatalf("ParseFingerprint(%q) = %d bytes", s, len(b))
		}
		if err != nil && !errors.Is(err, verify.ErrBadFingerprint) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
