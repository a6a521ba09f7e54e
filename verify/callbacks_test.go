package verify_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/verify"
)

// TestCallerCallbacks: the base config's VerifyPeerCertificate and
// VerifyConnection run after the policy's checks passed, see the chains the
// policy verified, and can still refuse the peer.
func TestCallerCallbacks(t *testing.T) {
	p := newPKI(t)
	errRefused := errors.New("refused by the caller")
	type result struct {
		Calls []string
		Err   string
	}
	cases := []struct {
		name          string
		peer          tls.Certificate
		policy        verify.Policy
		refusePeer    bool // VerifyPeerCertificate fails
		refuseConn    bool // VerifyConnection fails
		want          result
		wantCallerErr bool
	}{
		{name: "verified", peer: p.good, policy: verify.Policy{RootCAs: p.roots},
			want: result{Calls: []string{"VerifyPeerCertificate(1 certs, 1 chains of 2)", "VerifyConnection(1 certs, 1 chains of 2)"}}},
		{name: "verified-via-intermediate", peer: p.intermediate, policy: verify.Policy{RootCAs: p.roots},
			want: result{Calls: []string{"VerifyPeerCertificate(2 certs, 1 chains of 3)", "VerifyConnection(2 certs, 1 chains of 3)"}}},
		{name: "pinned", peer: p.private, policy: verify.Policy{Fingerprint: verify.FingerprintOf(p.private.Leaf)},
			want: result{Calls: []string{"VerifyPeerCertificate(1 certs, 0 chains)", "VerifyConnection(1 certs, 0 chains)"}}},
		{name: "insecure", peer: p.selfSigned, policy: verify.Policy{InsecureSkipVerify: true},
			want: result{Calls: []string{"VerifyPeerCertificate(1 certs, 0 chains)", "VerifyConnection(1 certs, 0 chains)"}}},
		{name: "policy-refuses-first", peer: p.wrongName, policy: verify.Policy{RootCAs: p.roots},
			want: result{Err: "cert: wrong name"}},
		{name: "pin-refuses-first", peer: p.good, policy: verify.Policy{RootCAs: p.roots, Fingerprint: verify.FingerprintOf(p.private.Leaf)},
			want: result{Err: "pin mismatch"}},
		{name: "peer-callback-refuses", peer: p.good, policy: verify.Policy{RootCAs: p.roots}, refusePeer: true,
			want: result{Calls: []string{"VerifyPeerCertificate(1 certs, 1 chains of 2)"}, Err: "other: " + errRefused.Error()}, wantCallerErr: true},
		{name: "connection-callback-refuses", peer: p.good, policy: verify.Policy{RootCAs: p.roots}, refuseConn: true,
			want: result{Calls: []string{"VerifyPeerCertificate(1 certs, 1 chains of 2)", "VerifyConnection(1 certs, 1 chains of 2)"}, Err: "other: " + errRefused.Error()}, wantCallerErr: true},
	}
	describe := func(certs int, chains [][]*x509.Certificate) string {
		if len(chains) == 0 {
			return fmt.Sprintf("%d certs, 0 chains", certs)
		}
		return fmt.Sprintf("%d certs, %d chains of %d", certs, len(chains), len(chains[0]))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got result
			base := &tls.Config{
				VerifyPeerCertificate: func(raw [][]byte, chains [][]*x509.Certificate) error {
					got.Calls = append(got.Calls, "VerifyPeerCertificate("+describe(len(raw), chains)+")")
					if tc.refusePeer {
						return errRefused
					}
					return nil
				},
				VerifyConnection: func(cs tls.ConnectionState) error {
					got.Calls = append(got.Calls, "VerifyConnection("+describe(len(cs.PeerCertificates), cs.VerifiedChains)+")")
					if tc.refuseConn {
						return errRefused
					}
					return nil
				},
			}
			cfg, err := tc.policy.Config(base, "localhost")
			if err != nil {
				t.Fatal(err)
			}
			_, err = newServer(t, tc.peer, 0).handshake(cfg)
			got.Err = classify(err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got, want := errors.Is(err, errRefused), tc.wantCallerErr; got != want {
				t.Errorf("errors.Is(%v, errRefused) = %v, want %v", err, got, want)
			}
		})
	}
}

// TestResumedSessions: a session resumed from a shared cache is checked
// again by the policy of the new handshake, so a session made without
// verification does not let a verifying policy skip it.
func TestResumedSessions(t *testing.T) {
	p := newPKI(t)
	insecure := verify.Policy{InsecureSkipVerify: true}
	pinOf := func(c tls.Certificate) verify.Policy { return verify.Policy{Fingerprint: verify.FingerprintOf(c.Leaf)} }
	type result struct {
		Offered bool // the client offered the session of the first handshake
		Resumed bool
		Err     string
	}
	cases := []struct {
		name          string
		first, second verify.Policy
		want          result
	}{
		{name: "insecure-then-insecure", first: insecure, second: insecure, want: result{Offered: true, Resumed: true}},
		{name: "insecure-then-verifying", first: insecure, second: verify.Policy{RootCAs: p.roots}, want: result{Offered: true, Err: "cert: untrusted"}},
		{name: "insecure-then-pin-mismatch", first: insecure, second: pinOf(p.good), want: result{Offered: true, Err: "pin mismatch"}},
		{name: "insecure-then-pinned", first: insecure, second: pinOf(p.selfSigned), want: result{Offered: true, Resumed: true}},
		{name: "pinned-then-verifying", first: pinOf(p.selfSigned), second: verify.Policy{}, want: result{Offered: true, Err: "cert: untrusted"}},
		{name: "insecure-then-assert-hostname-mismatch", first: insecure, second: verify.Policy{AssertHostname: "other.test"},
			want: result{Offered: true, Err: "cert: wrong name"}},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range cases {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := newServer(t, p.selfSigned, version)
				base := &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(1)}
				cfg, err := tc.first.Config(base, "localhost")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.handshake(cfg); err != nil {
					t.Fatalf("first handshake: %v", err)
				}
				if cfg, err = tc.second.Config(base, "localhost"); err != nil {
					t.Fatal(err)
				}
				before := s.resumeOffers()
				cs, err := s.handshake(cfg)
				got := result{Offered: s.resumeOffers() > before, Resumed: cs.DidResume, Err: classify(err)}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("second handshake, sharing the first's session cache (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestCallerCallbacksOnResumption: the caller's callbacks run on resumed
// sessions too (crypto/tls skips VerifyPeerCertificate there), since they
// run where the policy's checks do.
func TestCallerCallbacksOnResumption(t *testing.T) {
	p := newPKI(t)
	var calls []string
	base := &tls.Config{
		ClientSessionCache: tls.NewLRUClientSessionCache(1),
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			calls = append(calls, "VerifyPeerCertificate")
			return nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			calls = append(calls, fmt.Sprintf("VerifyConnection(resumed %v)", cs.DidResume))
			return nil
		},
	}
	cfg, err := verify.Policy{RootCAs: p.roots}.Config(base, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, p.good, 0)
	for range 2 {
		if _, err := s.handshake(cfg); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"VerifyPeerCertificate", "VerifyConnection(resumed false)",
		"VerifyPeerCertificate", "VerifyConnection(resumed true)",
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("callbacks over a full and a resumed handshake (-want +got):\n%s", diff)
	}
}
