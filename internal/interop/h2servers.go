package interop

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RequireHTTP2Servers skips t when nginx or nghttpd are missing; under
// CI=true it fails instead.
func RequireHTTP2Servers(t testing.TB) {
	t.Helper()
	requireBins(t, "nginx", "nghttpd")
}

// NginxOptions configure StartNginx.
type NginxOptions struct {
	CertFile, KeyFile string // the TLS certificate and key (PEM)
	// MaxConcurrentStreams is http2_max_concurrent_streams (0: nginx's 128).
	MaxConcurrentStreams int
	// KeepaliveRequests is keepalive_requests: after that many requests on
	// a connection nginx sends GOAWAY (0: nginx's 1000).
	KeepaliveRequests int
	// ClientMaxBodySize is client_max_body_size ("": nginx's 1m).
	ClientMaxBodySize string
}

// Nginx is a running nginx. Every location answers 200 with
// "$server_protocol $request_uri" (so a test sees which protocol reached
// it), except that a body over ClientMaxBodySize gets nginx's early 413.
type Nginx struct {
	H2  *url.URL // https with HTTP/2 (ALPN h2, http/1.1)
	H1  *url.URL // https, HTTP/1.1 only
	H2C *url.URL // http, HTTP/2 with prior knowledge
	Dir string
}

// AccessLog returns nginx's access log so far: one line per request,
// "$connection $server_protocol $status $request_uri".
func (n *Nginx) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	return string(b)
}

// StartNginx starts an nginx for t on loopback and stops it when t ends.
// The URLs name localhost, so proxies that check names can reach them.
func StartNginx(t testing.TB, o NginxOptions) *Nginx {
	t.Helper()
	RequireHTTP2Servers(t)
	dir := sharedTempDir(t, "ferry-nginx-")
	ports := freePorts(t, 3)
	n := &Nginx{
		H2:  &url.URL{Scheme: "https", Host: fmt.Sprintf("localhost:%d", ports[0])},
		H1:  &url.URL{Scheme: "https", Host: fmt.Sprintf("localhost:%d", ports[1])},
		H2C: &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", ports[2])},
		Dir: dir,
	}
	var extra []string
	if o.MaxConcurrentStreams > 0 {
		extra = append(extra, fmt.Sprintf("http2_max_concurrent_streams %d;", o.MaxConcurrentStreams))
	}
	if o.KeepaliveRequests > 0 {
		extra = append(extra, fmt.Sprintf("keepalive_requests %d;", o.KeepaliveRequests))
	}
	if o.ClientMaxBodySize != "" {
		extra = append(extra, fmt.Sprintf("client_max_body_size %s;", o.ClientMaxBodySize))
	}
	conf := fmt.Sprintf(`# ferry interop nginx; everything on loopback.
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 1024; }
http {
  log_format ferry '$connection $server_protocol $status $request_uri';
  access_log %[1]s/access.log ferry;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  ssl_certificate %[5]s;
  ssl_certificate_key %[6]s;
  %[7]s
  server {
    listen 127.0.0.1:%[2]d ssl http2;
    listen 127.0.0.1:%[4]d http2;
    location / { return 200 "$server_protocol $request_uri\n"; }
  }
  server {
    listen 127.0.0.1:%[3]d ssl;
    location / { return 200 "$server_protocol $request_uri\n"; }
  }
}
`, dir, ports[0], ports[1], ports[2], o.CertFile, o.KeyFile, strings.Join(extra, "\n  "))
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "error.log", ports, "nginx", "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	return n
}

// Nghttpd is a running nghttpd (nghttp2's server), serving files from Dir.
type Nghttpd struct {
	URL *url.URL // https, h2 only
	Dir string   // its document root
}

// StartNghttpd starts nghttpd for t with at most maxStreams concurrent
// streams per connection (0: its default) and stops it when t ends. Put
// files to serve in Dir.
func StartNghttpd(t testing.TB, certFile, keyFile string, maxStreams int) *Nghttpd {
	t.Helper()
	RequireHTTP2Servers(t)
	dir := sharedTempDir(t, "ferry-nghttpd-")
	port := freePorts(t, 1)[0]
	args := []string{"--address=127.0.0.1", "-d", dir}
	if maxStreams > 0 {
		args = append(args, fmt.Sprintf("--max-concurrent-streams=%d", maxStreams))
	}
	args = append(args, fmt.Sprint(port), keyFile, certFile)
	start(t, dir, "nonexistent.log", []int{port}, "nghttpd", args...)
	return &Nghttpd{URL: &url.URL{Scheme: "https", Host: fmt.Sprintf("localhost:%d", port)}, Dir: dir}
}
