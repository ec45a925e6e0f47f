#!/usr/bin/env bash
# `make install`: binaries, systemd units, the nginx site (rendered for production), the OpenAPI
# document, the JSON error page and example settings, under $DESTDIR$PREFIX and $DESTDIR/etc.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
RUN_SOCK_DIR=${RUN_SOCK_DIR:-/run/kasparro}

share=$DESTDIR$PREFIX/share/kasparro
install -d "$DESTDIR$PREFIX/bin" "$share/errors" "$DESTDIR$SYSTEMD_DIR" "$DESTDIR/etc/nginx/sites-available" \
    "$DESTDIR/etc/kasparro"
install -m 0755 "$BIN_DIR/kasparro-api" "$BIN_DIR/kasparro-etl" "$DESTDIR$PREFIX/bin/"
install -d "$DESTDIR$PREFIX/sbin"
install -m 0755 "$ROOT/scripts/kasparro-keys" "$DESTDIR$PREFIX/sbin/"
install -m 0644 "$ROOT/docs/openapi.json" "$ROOT/README.md" "$share/"
install -m 0644 "$ROOT/nginx/errors/error.json" "$share/errors/"
# The /docs pages, built by `make build` (scripts/docs-ui.sh) from a pinned wheel.
DOCS_BUILD=${DOCS_BUILD:-$ROOT/.build-docs}
[ -f "$DOCS_BUILD/swagger-ui-bundle.js" ] || "$ROOT/scripts/docs-ui.sh" "$DOCS_BUILD"
install -d "$share/docs"
install -m 0644 "$DOCS_BUILD"/index.html "$DOCS_BUILD"/docs.js "$DOCS_BUILD"/swagger-ui-bundle.js \
    "$DOCS_BUILD"/swagger-ui.css "$DOCS_BUILD"/favicon.png "$DOCS_BUILD"/LICENSE.fastapi-offline "$share/docs/"
install -d "$share/monitoring"
install -m 0644 "$ROOT/monitoring/kasparro-alerts.yml" "$ROOT/monitoring/grafana-dashboard.json" "$share/monitoring/"
for unit in kasparro-api@.socket kasparro-api@.service kasparro-etl.service kasparro-etl.timer; do
    sed "s|@PREFIX@|$PREFIX|g" "$ROOT/systemd/$unit" >"$DESTDIR$SYSTEMD_DIR/$unit"
    chmod 0644 "$DESTDIR$SYSTEMD_DIR/$unit"
done
PREFIX="$PREFIX" SOCK_DIR="$RUN_SOCK_DIR" "$ROOT/scripts/render-site.sh" "$DESTDIR/etc/nginx/sites-available/kasparro.conf"
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
