#!/usr/bin/env bash
# Installs the real servers the interop suite drives: the proxies (squid with
# TLS, tinyproxy, htpasswd for squid's basic auth), an MIT Kerberos KDC for the
# Negotiate tests (krb5-kdc, krb5-admin-server for kadmin.local, krb5-user for
# kinit), and HTTP/2 origins (nginx with http_v2, nghttpd). It stops the system
# instances the packages start, so only the tests' own instances run (each on
# loopback, with its own configuration). Idempotent; needs root.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v squid >/dev/null 2>&1 || need+=(squid-openssl)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v krb5kdc >/dev/null 2>&1 || need+=(krb5-kdc)
command -v kadmin.local >/dev/null 2>&1 || need+=(krb5-admin-server)
command -v kinit >/dev/null 2>&1 || need+=(krb5-user)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v nghttpd >/dev/null 2>&1 || need+=(nghttp2-server)
{ command -v stunnel4 || command -v stunnel; } >/dev/null 2>&1 || need+=(stunnel4)
if [ "${#need[@]}" -gt 0 ]; then
  echo "interop setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs on the machine may hold apt's lock: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages' postinst scripts may start system-wide instances (squid on
  # 3128, tinyproxy on 8888, nginx on 80, a KDC for the ATHENA.MIT.EDU realm
  # of /etc/krb5.conf). Stopped only right after installing: a later run must
  # not kill the servers of interop tests running meanwhile.
  for svc in squid tinyproxy nginx krb5-kdc krb5-admin-server stunnel4; do
    service "$svc" stop >/dev/null 2>&1 || true
  done
  # nginx's system instance, by its pid file only: the tests' own nginx
  # processes run from their own directories.
  if [ -s /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" >/dev/null 2>&1 || true; fi
else
  echo "interop setup: squid, tinyproxy, htpasswd, the KDC, nginx, nghttpd and stunnel already installed"
fi
echo "interop setup: done ($(squid -v | head -n1); $(tinyproxy -v 2>&1 | head -n1); krb5-kdc $(dpkg-query -W -f='${Version}' krb5-kdc 2>/dev/null); $(nginx -v 2>&1); $(nghttpd --version 2>&1 | head -n1); $({ stunnel4 -version || stunnel -version; } 2>&1 | grep -m1 '^stunnel'))"
