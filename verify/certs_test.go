package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pki is the set of certificates the tests handshake against. Keys are ECDSA
// P-256, which is fast to generate.
type pki struct {
	roots *x509.CertPool // holds root only

	good         tls.Certificate // root -> leaf for localhost and 127.0.0.1
	intermediate tls.Certificate // root -> intermediate -> leaf, chain sent
	expired      tls.Certificate // root -> leaf, expired yesterday
	wrongName    tls.Certificate // root -> leaf for other.test only
	selfSigned   tls.Certificate // leaf for localhost, signed by itself
	private      tls.Certificate // private CA (not in roots) -> leaf for localhost
}

// issuer is a CA that signs certificates.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certSpec describes a certificate to make.
type certSpec struct {
	cn        string
	dnsNames  []string
	ips       []net.IP
	isCA      bool
	notBefore time.Time // zero: a week ago
	notAfter  time.Time // zero: in a day
}

var localhost = certSpec{cn: "localhost", dnsNames: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}

func newPKI(t testing.TB) *pki {
	t.Helper()
	root := newCA(t, "verify test root", nil)
	mid := newCA(t, "verify test intermediate", root)
	other := newCA(t, "verify test private root", nil)

	expired := localhost
	expired.notBefore = time.Now().Add(-48 * time.Hour)
	expired.notAfter = time.Now().Add(-24 * time.Hour)

	p := &pki{
		roots:        x509.NewCertPool(),
		good:         issue(t, localhost, root),
		intermediate: issue(t, localhost, mid, mid),
		expired:      issue(t, expired, root),
		wrongName:    issue(t, certSpec{cn: "other.test", dnsNames: []string{"other.test"}}, root),
		selfSigned:   issue(t, localhost, nil),
		private:      issue(t, localhost, other),
	}
	p.roots.AddCert(root.cert)
	return p
}

// newCA makes a CA signed by parent, or self-signed when parent is nil.
func newCA(t testing.TB, cn string, parent *issuer) *issuer {
	t.Helper()
	c := issue(t, certSpec{cn: cn, isCA: true}, parent)
	return &issuer{cert: c.Leaf, key: c.PrivateKey.(*ecdsa.PrivateKey)}
}

// issue makes a certificate for spec signed by parent (self-signed when nil),
// whose chain also carries the DER of extra (the intermediates a server sends).
func issue(t testing.TB, spec certSpec, parent *issuer, extra ...*issuer) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.cn},
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-7 * 24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if spec.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	for _, e := range extra {
		chain = append(chain, e.cert.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}
}

// TestPKI shows the harness's certificates are what the policy tests assume,
// judged by x509 alone.
func TestPKI(t *testing.T) {
	p := newPKI(t)
	verifyAs := func(c tls.Certificate, name string) string {
		inter := x509.NewCertPool()
		for _, der := range c.Certificate[1:] {
			ic, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			inter.AddCert(ic)
		}
		_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, DNSName: name})
		switch err.(type) {
		case nil:
			return "ok"
		case x509.UnknownAuthorityError:
			return "unknown authority"
		case x509.HostnameError:
			return "wrong name"
		case x509.CertificateInvalidError:
			return "invalid"
		default:
			return err.Error()
		}
	}
	got := map[string]string{
		"good localhost":         verifyAs(p.good, "localhost"),
		"good 127.0.0.1":         verifyAs(p.good, "127.0.0.1"),
		"good ::1":               verifyAs(p.good, "::1"),
		"intermediate localhost": verifyAs(p.intermediate, "localhost"),
		"expired localhost":      verifyAs(p.expired, "localhost"),
		"wrongName localhost":    verifyAs(p.wrongName, "localhost"),
		"wrongName other.test":   verifyAs(p.wrongName, "other.test"),
		"selfSigned localhost":   verifyAs(p.selfSigned, "localhost"),
		"private localhost":      verifyAs(p.private, "localhost"),
	}
	want := map[string]string{
		"good localhost":         "ok",
		"good 127.0.0.1":         "ok",
		"good ::1":               "ok",
		"intermediate localhost": "ok",
		"expired localhost":      "invalid",
		"wrongName localhost":    "wrong name",
		"wrongName other.test":   "ok",
		"selfSigned localhost":   "unknown authority",
		"private localhost":      "unknown authority",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("x509 verdicts (-want +got):\n%s", diff)
	}
}
