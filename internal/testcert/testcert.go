// Package testcert makes certificates at run time for ferry's tests and its
// demo: a CA, intermediate CAs, leaves signed by either (valid, expired, for
// the wrong name) and self-signed leaves. ECDSA P-256 keeps it fast.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority for tests: a root, or an intermediate
// signed by another CA.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte

	// chain is what a server sends after a leaf this CA signed: the DER of
	// this CA and of every CA above it but the root. Empty for a root.
	chain [][]byte
}

// NewCA makes a root CA called name, valid from a week ago for a day from
// now (so that a test can set its clock back and still trust it).
func NewCA(name string) (*CA, error) {
	return newCA(name, nil)
}

// Intermediate makes a CA called name, signed by ca. Leaves it signs carry
// it (and any intermediate above it) in their chain, as servers send them.
func (ca *CA) Intermediate(name string) (*CA, error) {
	return newCA(name, ca)
}

func newCA(name string, parent *CA) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ferry tests"}},
		NotBefore:             time.Now().Add(-7 * 24 * time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	signer, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if parent != nil {
		ca.chain = append([][]byte{der}, parent.chain...)
	}
	return ca, nil
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describe a leaf certificate.
type LeafOptions struct {
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
}

// Leaf makes a server certificate signed by the CA, with the CA's
// intermediates after it in the chain.
func (ca *CA) Leaf(o LeafOptions) (tls.Certificate, error) {
	leaf, err := makeLeaf(o, ca.Cert, ca.Key)
	if err != nil {
		return leaf, err
	}
	leaf.Certificate = append(leaf.Certificate, ca.chain...)
	return leaf, nil
}

// LocalhostLeaf makes a leaf for localhost, 127.0.0.1 and ::1.
func (ca *CA) LocalhostLeaf() (tls.Certificate, error) {
	return ca.Leaf(LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
}

// SelfSigned makes a leaf that signs itself.
func SelfSigned(o LeafOptions) (tls.Certificate, error) { return makeLeaf(o, nil, nil) }

// MustLocalhost returns a CA and a localhost leaf, panicking on failure (for
// test set-up and the demo, where a failure to make a key is fatal anyway).
func MustLocalhost(name string) (*CA, tls.Certificate) {
	ca, err := NewCA(name)
	if err != nil {
		panic(err)
	}
	leaf, err := ca.LocalhostLeaf()
	if err != nil {
		panic(err)
	}
	return ca, leaf
}

func makeLeaf(o LeafOptions, parent *x509.Certificate, parentKey crypto.Signer) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = time.Now().Add(24 * time.Hour)
	}
	cn := "leaf"
	if len(o.DNSNames) > 0 {
		cn = o.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    nb,
		NotAfter:     na,
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// WritePEM writes cert and its key as PEM files in dir, for servers that
// read files (squid).
func WritePEM(dir string, cert tls.Certificate) (certFile, keyFile string, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		return "", "", fmt.Errorf("writing key: %w", err)
	}
	return certFile, keyFile, nil
}
