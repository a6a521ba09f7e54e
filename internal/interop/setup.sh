#!/usr/bin/env bash
# Installs the real proxies the interop suite drives (squid with TLS, tinyproxy,
# htpasswd for squid's basic auth) and stops the system instances the packages
# start, so only the tests' own instances run. Idempotent; needs root.
set -euo pipefail
need=()
command -v squid >/dev/null 2>&1 || need+=(squid-openssl)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  echo "interop setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "interop setup: squid, tinyproxy and htpasswd already installed"
fi
# The packages' postinst scripts start system-wide instances on 3128/8888.
for svc in squid tinyproxy; do
  service "$svc" stop >/dev/null 2>&1 || true
done
pkill -x squid >/dev/null 2>&1 || true
pkill -x tinyproxy >/dev/null 2>&1 || true
echo "interop setup: done ($(squid -v | head -n1); $(tinyproxy -v 2>&1 | head -n1))"
