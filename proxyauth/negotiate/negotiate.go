// Package negotiate is Negotiate (SPNEGO with Kerberos) proxy
// authentication for ferry, on github.com/jcmturner/gokrb5/v8. It lives in
// a module of its own so that ferry's root module depends on nothing but
// golang.org/x/net.
//
// With the user's ticket cache (after kinit):
//
//	tr := &ferry.Transport{
//		Proxy:     http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy.corp.example:3128"}),
//		ProxyAuth: []proxyauth.Scheme{&negotiate.Scheme{}, ntlm.Scheme{}},
//	}
//
// Negotiate authenticates the connection: one token, for the service
// principal HTTP/<proxy host>, and the connection stays authenticated (ferry
// pools it). Address the proxy by the name its principal has, not by IP.
// Without a ticket the scheme cannot start, and ferry falls back to the next
// scheme the proxy offers (NTLM above).
package negotiate

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/ferryhttp/ferry/proxyauth"
)

// ErrNoTicket: no Kerberos ticket cache was found (KRB5CCNAME, or
// /tmp/krb5cc_<uid>), and the scheme is not told to log in with a password.
var ErrNoTicket = errors.New("negotiate: no Kerberos ticket cache")

// Scheme is Negotiate authentication. The zero value uses the user's ticket
// cache and the Kerberos configuration named by KRB5_CONFIG (else
// /etc/krb5.conf). A Scheme must not be copied after first use: it keeps one
// Kerberos client per proxy, shared by that proxy's connections.
type Scheme struct {
	// ConfigFile is the krb5.conf to read; "" means KRB5_CONFIG, else
	// /etc/krb5.conf. Set it (or KRB5_CONFIG): a default configuration may
	// look KDCs up through DNS.
	ConfigFile string
	// UsePassword logs in with the proxy URL's user ("user" in the default
	// realm, or "user@REALM") and password instead of the ticket cache.
	UsePassword bool
	// Keytab, if set, logs in as the proxy URL's user with the keys of this
	// keytab file (a service account) instead of the ticket cache.
	Keytab string
	// Client, if set, supplies the Kerberos client for a proxy (a keytab
	// login, say) and overrides the fields above.
	Client func(proxy *url.URL) (*client.Client, error)
	// SPN is the proxy's service principal; "" means "HTTP/<proxy host>".
	SPN string

	mu      sync.Mutex
	clients map[string]*client.Client
}

// Name returns "Negotiate".
func (*Scheme) Name() string { return "Negotiate" }

// Start logs in (once per proxy) and fails when there are no credentials:
// no ticket cache, no user, or a login the KDC refused. Auth then falls
// back to the next scheme the proxy offers.
func (s *Scheme) Start(proxy *url.URL) (proxyauth.Authenticator, error) {
	cl, err := s.client(proxy)
	if err != nil {
		return nil, err
	}
	spn := s.SPN
	if spn == "" {
		spn = "HTTP/" + proxy.Hostname()
	}
	return &auth{cl: cl, spn: spn}, nil
}

func (s *Scheme) client(proxy *url.URL) (*client.Client, error) {
	key := proxy.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cl := s.clients[key]; cl != nil {
		return cl, nil
	}
	cl, err := s.newClient(proxy)
	if err != nil {
		return nil, err
	}
	if s.clients == nil {
		s.clients = make(map[string]*client.Client)
	}
	s.clients[key] = cl
	return cl, nil
}

func (s *Scheme) newClient(proxy *url.URL) (*client.Client, error) {
	if s.Client != nil {
		return s.Client(proxy)
	}
	cfgFile := s.ConfigFile
	if cfgFile == "" {
		cfgFile = os.Getenv("KRB5_CONFIG")
	}
	if cfgFile == "" {
		cfgFile = "/etc/krb5.conf"
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return nil, fmt.Errorf("negotiate: krb5.conf: %w", err)
	}
	if s.UsePassword || s.Keytab != "" {
		if proxy.User == nil {
			return nil, proxyauth.ErrNoCredentials
		}
		user, realm, _ := strings.Cut(proxy.User.Username(), "@")
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		var cl *client.Client
		if s.Keytab != "" {
			kt, err := keytab.Load(s.Keytab)
			if err != nil {
				return nil, fmt.Errorf("negotiate: keytab: %w", err)
			}
			cl = client.NewWithKeytab(user, realm, kt, cfg, client.DisablePAFXFAST(true))
		} else {
			pw, _ := proxy.User.Password()
			cl = client.NewWithPassword(user, realm, pw, cfg, client.DisablePAFXFAST(true))
		}
		if err := cl.Login(); err != nil {
			// gokrb5's login errors name the principal and the KDC's
			// reason, never the password.
			return nil, fmt.Errorf("negotiate: login as %s@%s: %w", user, realm, err)
		}
		return cl, nil
	}
	path := ccachePath()
	if path == "" {
		return nil, ErrNoTicket
	}
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTicket, err)
	}
	cl, err := client.NewFromCCache(cc, cfg, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("negotiate: ticket cache %s: %w", path, err)
	}
	return cl, nil
}

// ccachePath is the FILE ticket cache to read: KRB5CCNAME, else MIT's
// default /tmp/krb5cc_<uid>; "" when there is none.
func ccachePath() string {
	name := os.Getenv("KRB5CCNAME")
	if name == "" {
		name = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	name = strings.TrimPrefix(name, "FILE:")
	if strings.Contains(name, ":") {
		return "" // KEYRING:, KCM:, DIR: caches: gokrb5 reads FILE caches only
	}
	if _, err := os.Stat(name); err != nil {
		return ""
	}
	return name
}

// auth is one connection's Negotiate exchange: one token, then the
// connection is authenticated.
type auth struct {
	cl   *client.Client
	spn  string
	sent bool
}

func (a *auth) Authorize(r *proxyauth.Request) (string, error) {
	if r.Challenges == nil && a.sent {
		return "", nil // the connection is authenticated
	}
	if r.Challenges != nil && r.Sent != "" {
		// A 407 right after our token: squid says no (an unknown
		// principal, a replayed or expired ticket).
		return "", proxyauth.ErrRejected
	}
	tok, err := spnego.SPNEGOClient(a.cl, a.spn).InitSecContext()
	if err != nil {
		return "", fmt.Errorf("negotiate: service ticket for %s: %w", a.spn, err)
	}
	b, err := tok.Marshal()
	if err != nil {
		return "", fmt.Errorf("negotiate: %w", err)
	}
	a.sent = true
	return "Negotiate " + base64.StdEncoding.EncodeToString(b), nil
}
