package verify_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/internal/testcert"
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

var localhost = testcert.LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}

func newPKI(t testing.TB) *pki {
	t.Helper()
	must := func(c tls.Certificate, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	root, err := testcert.NewCA("verify test root")
	if err != nil {
		t.Fatal(err)
	}
	mid, err := root.Intermediate("verify test intermediate")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.NewCA("verify test private root")
	if err != nil {
		t.Fatal(err)
	}
	expired := localhost
	expired.NotBefore = time.Now().Add(-48 * time.Hour)
	expired.NotAfter = time.Now().Add(-24 * time.Hour)
	return &pki{
		roots:        root.Pool(),
		good:         must(root.Leaf(localhost)),
		intermediate: must(mid.Leaf(localhost)),
		expired:      must(root.Leaf(expired)),
		wrongName:    must(root.Leaf(testcert.LeafOptions{DNSNames: []string{"other.test"}})),
		selfSigned:   must(testcert.SelfSigned(localhost)),
		private:      must(other.Leaf(localhost)),
	}
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
