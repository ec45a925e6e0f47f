#!/usr/bin/env bash
# Builds the /docs pages into OUTDIR: Swagger UI 5's files, taken from a pinned PyPI wheel
# (fastapi-offline, version and SHA-256 below) at build time, plus our own page and start script.
# Nothing of Swagger UI is committed, and nothing is loaded from a CDN at run time.
# Usage: docs-ui.sh OUTDIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: docs-ui.sh OUTDIR}
WHEEL_VERSION=1.7.7
WHEEL_SHA256=60c8399fd7d3e3b01510e14468709e3dea1a0e773ef920372d057392d736a1f9
STAMP="fastapi-offline $WHEEL_VERSION $WHEEL_SHA256"

if [ "$(cat "$OUT/.built-from" 2>/dev/null)" != "$STAMP" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$work" "fastapi-offline==$WHEEL_VERSION"
    wheel=$(ls "$work"/fastapi_offline-"$WHEEL_VERSION"-*.whl)
    echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet \
        || { echo "docs-ui.sh: $wheel does not have the pinned SHA-256" >&2; exit 1; }
    python3 -m zipfile -e "$wheel" "$work/x"
    mkdir -p "$OUT"
    for f in swagger-ui-bundle.js swagger-ui.css favicon.png; do
        install -m 0644 "$work/x/fastapi_offline/static/$f" "$OUT/$f"
    done
    install -m 0644 "$work/x/fastapi_offline-$WHEEL_VERSION.dist-info/licenses/LICENSE" "$OUT/LICENSE.fastapi-offline"
    echo "$STAMP" >"$OUT/.built-from"
fi
install -m 0644 "$ROOT/docs/ui/index.html" "$ROOT/docs/ui/docs.js" "$OUT/"
