package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KDCRealm is the realm of the test KDC.
const KDCRealm = "FERRY.TEST"

// KDC is a private MIT Kerberos KDC on a loopback port, with its own
// configuration: nothing a Kerberos client or server started with Env asks
// leaves the machine.
type KDC struct {
	Config   string // krb5.conf for clients and servers (KRB5_CONFIG)
	Keytab   string // keys of HTTP/localhost, for squid
	User     string // a principal of the realm, with Password
	Password string
	Dir      string
}

// Env is the environment every Kerberos program of the test runs with.
func (k *KDC) Env() []string {
	return []string{"KRB5_CONFIG=" + k.Config, "KRB5_KDC_PROFILE=" + filepath.Join(k.Dir, "kdc.conf"), "KRB5_KTNAME=" + k.Keytab,
		"KRB5CCNAME=FILE:" + filepath.Join(k.Dir, "nocache")}
}

// RequireKDC skips t when the MIT KDC programs are missing (fails under CI=true).
func RequireKDC(t testing.TB) {
	t.Helper()
	requireBins(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
}

// StartKDC creates a realm (the user "ferry" with password "interop", the
// service HTTP/localhost and its keytab) and runs its KDC for t.
func StartKDC(t testing.TB) *KDC {
	t.Helper()
	RequireKDC(t)
	dir := sharedTempDir(t, "ferry-kdc-")
	port := freePorts(t, 1)[0]
	k := &KDC{Config: filepath.Join(dir, "krb5.conf"), Keytab: filepath.Join(dir, "squid.keytab"), User: "ferry", Password: "interop", Dir: dir}
	// No DNS, no reverse lookups, the KDC by address: nothing leaves
	// loopback (Debian's /etc/krb5.conf names ATHENA.MIT.EDU's KDCs).
	krb5conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
[domain_realm]
	localhost = %[1]s
`, KDCRealm, port)
	kdcconf := fmt.Sprintf(`[kdcdefaults]
	kdc_ports = %[2]d
	kdc_tcp_ports = %[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		max_life = 10h
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
`, KDCRealm, port, dir)
	for name, content := range map[string]string{"krb5.conf": krb5conf, "kdc.conf": kdcconf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(binPath(name), args...)
		cmd.Env = append(os.Environ(), k.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("kdb5_util", "create", "-s", "-r", KDCRealm, "-P", "ferry-kdc-master")
	run("kadmin.local", "-r", KDCRealm, "-q", "addprinc -pw "+k.Password+" +requires_preauth "+k.User)
	run("kadmin.local", "-r", KDCRealm, "-q", "addprinc -randkey HTTP/localhost")
	run("kadmin.local", "-r", KDCRealm, "-q", "ktadd -k "+k.Keytab+" HTTP/localhost")
	os.Chmod(k.Keytab, 0o644) // squid runs as proxy
	startEnv(t, dir, "kdc.log", []int{port}, k.Env(), "krb5kdc", "-n", "-r", KDCRealm, "-P", filepath.Join(dir, "kdc.pid"))
	return k
}

// Kinit gets a ticket for the KDC's user into the FILE cache path.
func (k *KDC) Kinit(t testing.TB, path string) {
	t.Helper()
	cmd := exec.Command(binPath("kinit"), k.User+"@"+KDCRealm)
	cmd.Env = append(os.Environ(), append(k.Env(), "KRB5CCNAME=FILE:"+path)...)
	cmd.Stdin = strings.NewReader(k.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
}

// UserKeytab writes the user's keys (unchanged: -norandkey) to a keytab
// file and returns its path.
func (k *KDC) UserKeytab(t testing.TB) string {
	t.Helper()
	path := filepath.Join(k.Dir, "user.keytab")
	cmd := exec.Command(binPath("kadmin.local"), "-r", KDCRealm, "-q", "ktadd -norandkey -k "+path+" "+k.User)
	cmd.Env = append(os.Environ(), k.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kadmin.local ktadd: %v\n%s", err, out)
	}
	return path
}
