#!/usr/bin/env bash
# Renders nginx/kasparro.conf.template, the one site that production, `make up` and the tests run.
# Usage: render-site.sh OUTPUT. Settings come from the environment; the defaults are production's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
RESPONDERS=${RESPONDERS:-2}
SOCK_DIR=${SOCK_DIR:-/run/kasparro}
HTTP_LISTEN=${HTTP_LISTEN:-80}
HTTPS_LISTEN=${HTTPS_LISTEN:-443}
# Production (the default ports) also listens on IPv6, for a cloud VM's AAAA record; the local
# stacks listen on one loopback address.
v6_http="" v6_https=""
if [ "$HTTP_LISTEN" = 80 ] && [ "$HTTPS_LISTEN" = 443 ]; then
    v6_http="    listen [::]:80;"
    v6_https="    listen [::]:443 ssl http2;"
fi

# BEHIND_BALANCER=ADDRESS: a load balancer at ADDRESS connects with the PROXY protocol (v2), and
# the client's address it reports is $remote_addr (per-IP limits, the access log).
https_options="" real_ip=""
if [ -n "${BEHIND_BALANCER:-}" ]; then
    https_options=" proxy_protocol"
    real_ip="    set_real_ip_from ${BEHIND_BALANCER};\n    real_ip_header proxy_protocol;"
fi

servers=""
for i in $(seq 1 "$RESPONDERS"); do
    servers+="    server unix:$SOCK_DIR/api-$i.sock max_fails=1 fail_timeout=2s;\n"
done
https_port=${HTTPS_LISTEN##*:}
redirect=""
[ "$https_port" = 443 ] || redirect=":$https_port"

python3 "$ROOT/scripts/render.py" "$ROOT/nginx/kasparro.conf.template" "$1" \
    KEYS_MAP="${KEYS_MAP:-/etc/kasparro/api-keys.map}" \
    RATE_STANDARD="${RATE_STANDARD:-20r/s}" BURST_STANDARD="${BURST_STANDARD:-40}" \
    RATE_HIGH="${RATE_HIGH:-1000r/s}" BURST_HIGH="${BURST_HIGH:-2000}" \
    RATE_UNAUTHENTICATED="${RATE_UNAUTHENTICATED:-5r/s}" BURST_UNAUTHENTICATED="${BURST_UNAUTHENTICATED:-10}" \
    UPSTREAM_SERVERS="$servers" UPSTREAM_KEEPALIVE="${UPSTREAM_KEEPALIVE:-16}" \
    HTTP_LISTEN="$HTTP_LISTEN" HTTPS_LISTEN="$HTTPS_LISTEN" HTTPS_REDIRECT_PORT="$redirect" \
    HTTPS_LISTEN_OPTIONS="$https_options" REAL_IP="$(printf "$real_ip")" \
    HTTP_LISTEN_V6="$v6_http" HTTPS_LISTEN_V6="$v6_https" \
    SERVER_NAME="${SERVER_NAME:-_}" SERVER_NAME_INCLUDE="${SERVER_NAME_INCLUDE:-/etc/kasparro/nginx/server-name*.conf}" \
    ACME_ROOT="${ACME_ROOT:-/var/lib/kasparro/acme}" \
    TLS_CERT="${TLS_CERT:-/etc/kasparro/tls/fullchain.pem}" TLS_KEY="${TLS_KEY:-/etc/kasparro/tls/privkey.pem}" \
    ACCESS_LOG="${ACCESS_LOG:-/var/log/nginx/kasparro-access.log}" FASTCGI_PARAMS=/etc/nginx/fastcgi_params \
    ERRORS_DIR="${ERRORS_DIR:-$PREFIX/share/kasparro/errors}" \
    OPENAPI_FILE="${OPENAPI_FILE:-$PREFIX/share/kasparro/openapi.json}" \
    DOCS_DIR="${DOCS_DIR:-$PREFIX/share/kasparro/docs}"
