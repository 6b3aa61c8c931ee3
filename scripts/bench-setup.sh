#!/usr/bin/env bash
# Installs what the e2e benchmark (bench/e2e) needs from Debian's packages, if missing:
# haproxy (baseline proxy), nginx-light (upstream and baseline), wrk (HTTP/1.1 load),
# nghttp2-client (h2load for HTTP/2 load), openssl. Run as root: `sudo scripts/bench-setup.sh`.
set -euo pipefail

need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)

if [ ${#need[@]} -gt 0 ]; then
  echo "bench-setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The benchmark runs its own instances (foreground, generated configs, free loopback ports); any
# system haproxy/nginx service is left alone.
echo "bench-setup: $(haproxy -v | head -1)"
echo "bench-setup: $(nginx -v 2>&1)"
echo "bench-setup: $(wrk -v 2>&1 | head -1)"
echo "bench-setup: $(h2load --version)"
