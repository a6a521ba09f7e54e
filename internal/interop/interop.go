// Package interop starts real proxy servers from Debian's packages (squid
// and tinyproxy) on loopback for ferry's interop tests. setup.sh installs
// them; Require skips a test when they are missing, except under CI=true,
// where a missing proxy fails the run.
package interop

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SetupCommand is what to run to get the proxies.
const SetupCommand = "sudo bash internal/interop/setup.sh && go test ./internal/interop/"

// Require skips t when squid, tinyproxy or htpasswd are missing; under
// CI=true it fails instead, since CI must run the interop suite.
func Require(t testing.TB) {
	t.Helper()
	requireBins(t, "squid", "tinyproxy", "htpasswd")
}

// requireBins skips t when any of the programs is missing (naming them and
// the setup command); under CI=true it fails instead, since CI must run
// every interop test.
func requireBins(t testing.TB, bins ...string) {
	t.Helper()
	var missing []string
	for _, bin := range bins {
		if binPath(bin) == bin {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	requireFailed(t, fmt.Sprintf("%s not installed; run: %s", strings.Join(missing, ", "), SetupCommand))
}

// requireFailed skips t with msg, or fails it under CI=true.
func requireFailed(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// SquidOptions configure StartSquid.
type SquidOptions struct {
	CertFile, KeyFile string // the https_port's certificate and key (PEM)
	CAFile            string // CA squid trusts when it opens TLS to origins itself
	User, Password    string // credentials for the Auth port
	// HostsFile, if set, is squid's hosts_file: the test's own names for
	// loopback origins, so that no test name reaches the system resolver.
	HostsFile string
	// NTLM adds an NTLM port (Squid.NTLM), checked by ntlmhelper, which
	// StartSquid builds for the test with the go command.
	NTLM bool
	// KDC adds a Negotiate port (Squid.Negotiate) whose helper checks
	// tickets for HTTP/localhost with the KDC's keytab.
	KDC *KDC
}

// Squid is a running squid.
type Squid struct {
	HTTP  *url.URL // plain http_port: forwarding and CONNECT
	HTTPS *url.URL // https_port: an HTTPS proxy
	Auth  *url.URL // http_port requiring Basic auth (no credentials in the URL)
	// Digest is an http_port requiring Digest auth (digest_file_auth), with
	// the same user and password as Auth; no credentials in the URL.
	Digest *url.URL
	// NTLM is an http_port requiring NTLM (SquidOptions.NTLM), with the
	// same user and password as Auth; no credentials in the URL.
	NTLM *url.URL
	// Negotiate is an http_port requiring Negotiate (SquidOptions.KDC),
	// addressed as localhost: the service principal is HTTP/localhost.
	Negotiate *url.URL
	// Any is an http_port offering every scheme configured (Negotiate, NTLM,
	// Digest, Basic, in that order) and accepting any of them.
	Any *url.URL
	// RefusedPort is a port squid refuses to CONNECT to (403 with its error page).
	RefusedPort int
	Dir         string // configuration and logs
}

// AccessLog returns squid's access log so far.
func (s *Squid) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "access.log"))
	return string(b)
}

// StartSquid starts a squid for t and stops it when t ends.
func StartSquid(t testing.TB, o SquidOptions) *Squid {
	t.Helper()
	Require(t)
	dir := sharedTempDir(t, "ferry-squid-")
	ports := freePorts(t, 8)
	s := &Squid{
		HTTP:        &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])},
		HTTPS:       &url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])},
		Auth:        &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2])},
		RefusedPort: ports[3],
		Digest:      &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[4])},
		Dir:         dir,
	}
	if o.User == "" {
		o.User, o.Password = "ferry", "interop"
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if out, err := exec.Command(binPath("htpasswd"), "-bc", htpasswd, o.User, o.Password).CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v: %s", err, out)
	}
	os.Chmod(htpasswd, 0o644)
	digestFile := filepath.Join(dir, "digest-passwords")
	if err := os.WriteFile(digestFile, []byte(o.User+":"+o.Password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var extra, access strings.Builder // lines for the auth_schemes, and the http_access, part
	listen := []int{ports[0], ports[1], ports[2], ports[4]}
	if o.NTLM {
		helper := BuildNTLMHelper(t, dir)
		s.NTLM = &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[5])}
		listen = append(listen, ports[5])
		// Stateful helpers: an abandoned handshake holds a child until
		// reservation-timeout, so have plenty.
		fmt.Fprintf(&extra, `auth_param ntlm program %[1]s %[2]s/digest-passwords
auth_param ntlm children 20 startup=0 idle=2 reservation-timeout=10
auth_param ntlm keep_alive on
http_port 127.0.0.1:%[3]d name=ntlmport
acl ntlmport myportname ntlmport
auth_schemes ntlm ntlmport
`, helper, dir, ports[5])
		access.WriteString("http_access deny ntlmport !authed\n")
	}
	var env []string
	anySchemes := "ntlm,digest,basic"
	if !o.NTLM {
		anySchemes = "digest,basic"
	}
	if k := o.KDC; k != nil {
		env = k.Env()
		s.Negotiate = &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", ports[6])}
		listen = append(listen, ports[6])
		anySchemes = "negotiate," + anySchemes
		// A helper child per abandoned handshake too; the keytab and
		// KRB5_CONFIG come from squid's environment.
		fmt.Fprintf(&extra, `auth_param negotiate program /usr/lib/squid/negotiate_kerberos_auth -k %[1]s -s HTTP/localhost@%[2]s
auth_param negotiate children 20 startup=0 idle=2
auth_param negotiate keep_alive on
http_port 127.0.0.1:%[3]d name=negport
acl negport myportname negport
auth_schemes negotiate negport
`, k.Keytab, KDCRealm, ports[6])
		access.WriteString("http_access deny negport !authed\n")
	}
	s.Any = &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", ports[7])}
	listen = append(listen, ports[7])
	fmt.Fprintf(&extra, `http_port 127.0.0.1:%[1]d name=anyport
acl anyport myportname anyport
auth_schemes %[2]s anyport
`, ports[7], anySchemes)
	access.WriteString("http_access deny anyport !authed\n")
	conf := fmt.Sprintf(`# ferry interop squid; everything on loopback.
http_port 127.0.0.1:%[2]d
https_port 127.0.0.1:%[3]d tls-cert=%[5]s tls-key=%[6]s
http_port 127.0.0.1:%[4]d name=authport
visible_hostname ferry-interop
pid_filename %[1]s/squid.pid
access_log stdio:%[1]s/access.log
cache_log %[1]s/cache.log
cache_store_log none
coredump_dir %[1]s
netdb_filename none
pinger_enable off
cache deny all
cache_mem 8 MB
via off
forwarded_for delete
shutdown_lifetime 0 seconds
max_filedescriptors 4096
tls_outgoing_options cafile=%[7]s
auth_param basic program /usr/lib/squid/basic_ncsa_auth %[8]s
auth_param basic realm ferry-interop
auth_param digest program /usr/lib/squid/digest_file_auth %[1]s/digest-passwords
auth_param digest realm ferry-interop
auth_param digest children 5
http_port 127.0.0.1:%[10]d name=digestport
acl local src 127.0.0.1/32 ::1
acl CONNECT method CONNECT
acl refused port %[9]d
acl authport myportname authport
acl digestport myportname digestport
auth_schemes digest digestport
%[11]sauth_schemes basic all
acl authed proxy_auth REQUIRED
http_access deny CONNECT refused
http_access deny authport !authed
http_access deny digestport !authed
%[12]shttp_access allow local
http_access deny all
`, dir, ports[0], ports[1], ports[2], o.CertFile, o.KeyFile, o.CAFile, htpasswd, ports[3], ports[4], extra.String(), access.String())
	if o.HostsFile != "" {
		conf += "hosts_file " + o.HostsFile + "\n"
	}
	confFile := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// A service name of its own: squids of tests running at once in other
	// packages would otherwise share shared-memory segments and fail.
	startEnv(t, dir, "cache.log", listen, env, "squid", "-N", "-n", fmt.Sprintf("ferry%d", ports[0]), "-f", confFile)
	return s
}

// Tinyproxy is a running tinyproxy.
type Tinyproxy struct {
	URL *url.URL
	Dir string
}

// StartTinyproxy starts a tinyproxy (forwarding and CONNECT to any port) for t.
func StartTinyproxy(t testing.TB) *Tinyproxy {
	t.Helper()
	Require(t)
	dir := sharedTempDir(t, "ferry-tinyproxy-")
	port := freePorts(t, 1)[0]
	conf := fmt.Sprintf(`Port %[2]d
Listen 127.0.0.1
Allow 127.0.0.1
User proxy
Group proxy
PidFile "%[1]s/tinyproxy.pid"
LogFile "%[1]s/tinyproxy.log"
LogLevel Info
Timeout 60
MaxClients 64
DisableViaHeader Yes
`, dir, port)
	confFile := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "tinyproxy.log", []int{port}, "tinyproxy", "-d", "-c", confFile)
	return &Tinyproxy{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}, Dir: dir}
}

// sharedTempDir is a temporary directory the proxies' unprivileged users
// can write to (t.TempDir's parents are private to root).
func sharedTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// freePorts finds n free loopback ports. Another process could take one
// before the proxy binds it; start then fails with the proxy's log.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// start runs the proxy in the foreground, waits until every port accepts
// (30 s at most) and stops it when t ends: SIGTERM, SIGKILL after 3 s.
func start(t testing.TB, dir, logName string, ports []int, name string, args ...string) {
	t.Helper()
	startEnv(t, dir, logName, ports, nil, name, args...)
}

// startEnv is start with extra environment variables (KRB5_CONFIG, ...).
func startEnv(t testing.TB, dir, logName string, ports []int, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(binPath(name), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range ports {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				exited <- err
				log, _ := os.ReadFile(filepath.Join(dir, logName))
				t.Fatalf("%s exited before listening on %d: %v\n%s\n%s", name, p, err, out.String(), log)
			default:
			}
			if time.Now().After(deadline) {
				stop()
				log, _ := os.ReadFile(filepath.Join(dir, logName))
				t.Fatalf("%s did not listen on %d within 30 s\n%s\n%s", name, p, out.String(), log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Cleanup(stop)
}

// binPath finds a program on PATH or in the sbin folders, which a non-login
// root shell may not have on its PATH.
func binPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	return name
}

// BuildNTLMHelper builds the test NTLM helper (package ntlmhelper, beside
// this file) into dir with the go command and returns its path.
func BuildNTLMHelper(t testing.TB, dir string) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("interop: cannot find the ntlmhelper sources")
	}
	out := filepath.Join(dir, "ntlmhelper")
	goCmd := binPath("go")
	if goCmd == "go" {
		if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
			goCmd = "/usr/local/go/bin/go"
		}
	}
	cmd := exec.Command(goCmd, "build", "-o", out, ".")
	cmd.Dir = filepath.Join(filepath.Dir(self), "ntlmhelper")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building ntlmhelper: %v\n%s", err, b)
	}
	os.Chmod(out, 0o755)
	return out
}
