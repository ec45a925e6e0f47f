#!/usr/bin/env bash
# The one list of installed files: binaries, systemd units, the nginx site (rendered for
# production), the OpenAPI document, /docs, the JSON error page, monitoring rules and settings.
# `make install` runs it (PREFIX=/usr/local, units in /etc/systemd/system); `make deb` runs it into
# the package tree (PREFIX=/usr, units in /lib/systemd/system).
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
install -m 0755 "$ROOT/scripts/kasparro-keys" "$ROOT/scripts/kasparro-setup" "$DESTDIR$PREFIX/sbin/"
install -m 0644 "$ROOT/docs/openapi.json" "$ROOT/README.md" "$ROOT/docs/operations.md" "$ROOT/docs/configuration.md" \
    "$ROOT/docs/schema.sql" "$share/"
install -m 0644 "$ROOT/nginx/errors/error.json" "$share/errors/"
# The /docs pages, built by `make build` (scripts/docs-ui.sh) from a pinned wheel.
DOCS_BUILD=${DOCS_BUILD:-$ROOT/.build-docs}
[ -f "$DOCS_BUILD/swagger-ui-bundle.js" ] || "$ROOT/scripts/docs-ui.sh" "$DOCS_BUILD"
install -d "$share/docs"
install -m 0644 "$DOCS_BUILD"/index.html "$DOCS_BUILD"/docs.js "$DOCS_BUILD"/swagger-ui-bundle.js \
    "$DOCS_BUILD"/swagger-ui.css "$DOCS_BUILD"/favicon.png "$DOCS_BUILD"/LICENSE.fastapi-offline "$share/docs/"
install -d "$share/monitoring"
install -m 0644 "$ROOT/monitoring/kasparro-alerts.yml" "$ROOT/monitoring/grafana-dashboard.json" "$share/monitoring/"
for unit in kasparro-api@.socket kasparro-api@.service kasparro-etl.service kasparro-etl.timer kasparro-migrate.service; do
    sed "s|@PREFIX@|$PREFIX|g" "$ROOT/systemd/$unit" >"$DESTDIR$SYSTEMD_DIR/$unit"
    chmod 0644 "$DESTDIR$SYSTEMD_DIR/$unit"
done
PREFIX="$PREFIX" SOCK_DIR="$RUN_SOCK_DIR" "$ROOT/scripts/render-site.sh" "$DESTDIR/etc/nginx/sites-available/kasparro.conf"
# Settings files: shipped as conffiles by the Debian package; `make install` never overwrites
# an operator's copy (the new one is left beside it as *.env.dist).
for settings in etl.env api.env; do
    target=$DESTDIR/etc/kasparro/$settings
    [ -e "$target" ] && target=$target.dist
    install -m 0644 "$ROOT/systemd/$settings" "$target"
done
# Where the CSV source reads by default (etl.env): the operator puts price histories here. The
# ACME client's webroot (HTTP-01 challenges served on port 80) and the site's generated includes
# are kasparro-setup's.
install -d "$DESTDIR/var/lib/kasparro/csv" "$DESTDIR/var/lib/kasparro/acme" "$DESTDIR/etc/kasparro/nginx"
echo "installed under ${DESTDIR:-/} (prefix $PREFIX)"
