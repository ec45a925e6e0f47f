#!/usr/bin/env bash
# `make install`: binaries, systemd units, the nginx site (rendered for production), the OpenAPI
# document, the JSON error page and example settings, under $DESTDIR$PREFIX and $DESTDIR/etc.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
RESPONDERS=${RESPONDERS:-2}
SERVER_NAME=${SERVER_NAME:-_}
TLS_CERT=${TLS_CERT:-/etc/kasparro/tls/fullchain.pem}
TLS_KEY=${TLS_KEY:-/etc/kasparro/tls/privkey.pem}
KEYS_MAP=${KEYS_MAP:-/etc/kasparro/api-keys.map}
RUN_SOCK_DIR=${RUN_SOCK_DIR:-/run/kasparro}
ACCESS_LOG=${ACCESS_LOG:-/var/log/nginx/kasparro-access.log}

share=$DESTDIR$PREFIX/share/kasparro
install -d "$DESTDIR$PREFIX/bin" "$share/errors" "$DESTDIR$SYSTEMD_DIR" "$DESTDIR/etc/nginx/sites-available" \
    "$DESTDIR/etc/kasparro"
install -m 0755 "$BIN_DIR/kasparro-api" "$BIN_DIR/kasparro-etl" "$DESTDIR$PREFIX/bin/"
install -d "$DESTDIR$PREFIX/sbin"
install -m 0755 "$ROOT/scripts/kasparro-keys" "$DESTDIR$PREFIX/sbin/"
install -m 0644 "$ROOT/docs/openapi.json" "$ROOT/README.md" "$share/"
install -m 0644 "$ROOT/nginx/errors/error.json" "$share/errors/"
for unit in kasparro-api@.socket kasparro-api@.service kasparro-etl.service kasparro-etl.timer; do
    sed "s|@PREFIX@|$PREFIX|g" "$ROOT/systemd/$unit" >"$DESTDIR$SYSTEMD_DIR/$unit"
    chmod 0644 "$DESTDIR$SYSTEMD_DIR/$unit"
done
servers=""
for i in $(seq 1 "$RESPONDERS"); do
    servers+="    server unix:$RUN_SOCK_DIR/api-$i.sock max_fails=1 fail_timeout=2s;\n"
done
python3 "$ROOT/scripts/render.py" "$ROOT/nginx/kasparro.conf.template" "$DESTDIR/etc/nginx/sites-available/kasparro.conf" \
    KEYS_MAP="$KEYS_MAP" RATE_STANDARD="${RATE_STANDARD:-20r/s}" BURST_STANDARD="${BURST_STANDARD:-40}" \
    RATE_HIGH="${RATE_HIGH:-1000r/s}" BURST_HIGH="${BURST_HIGH:-2000}" \
    RATE_UNAUTHENTICATED="${RATE_UNAUTHENTICATED:-5r/s}" BURST_UNAUTHENTICATED="${BURST_UNAUTHENTICATED:-10}" \
    UPSTREAM_SERVERS="$servers" UPSTREAM_KEEPALIVE="${UPSTREAM_KEEPALIVE:-8}" \
    HTTP_LISTEN="80" HTTPS_LISTEN="443" HTTPS_REDIRECT_PORT="" SERVER_NAME="$SERVER_NAME" \
    TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" ACCESS_LOG="$ACCESS_LOG" FASTCGI_PARAMS=/etc/nginx/fastcgi_params \
    ERRORS_DIR="$PREFIX/share/kasparro/errors" OPENAPI_FILE="$PREFIX/share/kasparro/openapi.json"
cat >"$DESTDIR/etc/kasparro/etl.env.example" <<ENV
# /etc/kasparro/etl.env (EnvironmentFile of kasparro-etl.service). No secrets here: the database
# password is in /etc/kasparro/etl.pgpass, the API keys in /etc/kasparro/{coinpaprika,coingecko}.key
# (all mode 0600, handed to the service with LoadCredential=; an empty key file means no key).
DATABASE_URL=postgresql://kasparro_etl@localhost/kasparro
CSV_SOURCE_DIR=/var/lib/kasparro/csv
COINGECKO_API_PLAN=demo
COINGECKO_MAX_PAGES=2
LOG_LEVEL=info
ENV
cat >"$DESTDIR/etc/kasparro/api.env.example" <<ENV
# /etc/kasparro/api.env (EnvironmentFile of kasparro-api@.service). The responders reach
# PostgreSQL over its Unix socket only; the password is in /etc/kasparro/api.pgpass (0600).
DATABASE_URL=postgresql://kasparro_api@%2Frun%2Fpostgresql/kasparro
LOG_LEVEL=info
HEALTH_STALE_SECONDS=3600
ENV
echo "installed under ${DESTDIR:-/} (prefix $PREFIX)"
