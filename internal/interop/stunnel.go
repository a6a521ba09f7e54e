package interop

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stunnelBin is Debian's stunnel: the stunnel4 package installs stunnel4,
// with stunnel as a link to it on newer releases.
func stunnelBin() string {
	for _, name := range []string{"stunnel4", "stunnel"} {
		if p := binPath(name); p != name {
			return p
		}
	}
	return ""
}

// RequireStunnel skips t when stunnel is missing; under CI=true it fails
// instead.
func RequireStunnel(t testing.TB) {
	t.Helper()
	if stunnelBin() != "" {
		return
	}
	requireFailed(t, fmt.Sprintf("stunnel4 not installed; run: %s", SetupCommand))
}

// Stunnel is a running stunnel terminating TLS in front of a plain proxy:
// together an HTTPS proxy of another make than squid's https_port.
type Stunnel struct {
	URL *url.URL // https://127.0.0.1:port
	Dir string   // configuration, pid file and log
}

// Log returns stunnel's log so far.
func (s *Stunnel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "stunnel.log"))
	return string(b)
}

// Accepted counts the client connections stunnel has accepted so far (its
// "accepted connection" log lines). That includes StartStunnel's readiness
// probe (one TCP connection, closed without TLS), whose line stunnel may
// write after StartStunnel returns: count once the test's traffic is done.
func (s *Stunnel) Accepted() int {
	return strings.Count(s.Log(), "accepted connection from")
}

// StartStunnel starts stunnel for t on a free loopback port, with TLS from
// certFile and keyFile (PEM), relaying each connection in the clear to
// backend's host:port (a proxy such as StartTinyproxy's), and stops it when
// t ends.
func StartStunnel(t testing.TB, certFile, keyFile string, backend *url.URL) *Stunnel {
	t.Helper()
	RequireStunnel(t)
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	// debug = notice logs each accepted connection; foreground keeps it a
	// child of the test, which stops it by its process group.
	conf := fmt.Sprintf(`; ferry interop stunnel; everything on loopback.
foreground = yes
pid = %[1]s/stunnel.pid
output = %[1]s/stunnel.log
debug = notice
[proxy]
accept = 127.0.0.1:%[2]d
connect = %[3]s
cert = %[4]s
key = %[5]s
`, dir, port, backend.Host, certFile, keyFile)
	confFile := filepath.Join(dir, "stunnel.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "stunnel.log", []int{port}, stunnelBin(), confFile)
	return &Stunnel{URL: &url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", port)}, Dir: dir}
}
