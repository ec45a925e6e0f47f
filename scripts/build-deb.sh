#!/usr/bin/env bash
# `make deb`: builds kasparro_VERSION_amd64.deb from the release binaries the way Debian packages
# are built: the files from scripts/install.sh (PREFIX=/usr, units in /lib/systemd/system),
# stripped binaries, Depends from dpkg-shlibdeps, dpkg-gencontrol, md5sums, dpkg-deb, lintian.
# Usage: build-deb.sh OUTDIR   (VERSION=… overrides the version, e.g. for an upgrade test)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mkdir -p "${1:?usage: build-deb.sh OUTDIR}" && cd "$1" && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
VERSION=${VERSION:-$(sed -n 's/^public let kasparroVersion = "\(.*\)"$/\1/p' "$ROOT/Sources/Support/Version.swift")}
[ -n "$VERSION" ] || { echo "build-deb.sh: no version in Sources/Support/Version.swift" >&2; exit 1; }
for bin in kasparro-api kasparro-etl; do
    if ldd "$BIN_DIR/$bin" | grep -q libswiftCore; then
        echo "build-deb.sh: $BIN_DIR/$bin links the Swift toolchain; build with --static-swift-stdlib (make build)" >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/debian/kasparro
mkdir -p "$pkg/DEBIAN"
cp "$ROOT/packaging/debian/control" "$ROOT/packaging/debian/changelog" "$work/debian/"
if [ "$VERSION" != "$(dpkg-parsechangelog -l "$work/debian/changelog" -S Version)" ]; then
    # A version other than the changelog's newest (an upgrade test): a changelog entry of its own.
    { printf 'kasparro (%s) bookworm; urgency=medium\n\n  * Rebuilt as %s.\n\n -- kasparro maintainers <ops@kasparro.invalid>  %s\n\n' \
        "$VERSION" "$VERSION" "$(date -R)"; cat "$ROOT/packaging/debian/changelog"; } >"$work/debian/changelog"
fi

# The same files as `make install`, with Debian's prefixes.
DESTDIR=$pkg PREFIX=/usr SYSTEMD_DIR=/lib/systemd/system BIN_DIR=$BIN_DIR "$ROOT/scripts/install.sh" >/dev/null
for bin in "$pkg"/usr/bin/kasparro-api "$pkg"/usr/bin/kasparro-etl; do
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$bin"
    chrpath -d "$bin"   # SwiftPM's $ORIGIN rpath: nothing is loaded from beside the binary
done
# Debian keeps documentation in /usr/share/doc/PACKAGE.
doc=$pkg/usr/share/doc/kasparro
install -d "$doc"
install -m 0644 "$ROOT/packaging/debian/copyright" "$doc/copyright"
gzip -9n <"$work/debian/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
mv "$pkg/usr/share/kasparro/README.md" "$doc/README.md"
ln -s ../doc/kasparro/README.md "$pkg/usr/share/kasparro/README.md"

install -m 0644 "$ROOT/packaging/debian/conffiles" "$pkg/DEBIAN/conffiles"
install -m 0755 "$ROOT/packaging/debian/postinst" "$ROOT/packaging/debian/prerm" "$ROOT/packaging/debian/postrm" "$pkg/DEBIAN/"

(
    cd "$work"
    dpkg-shlibdeps -Tdebian/substvars debian/kasparro/usr/bin/kasparro-api debian/kasparro/usr/bin/kasparro-etl
    echo "misc:Depends=" >>debian/substvars
    dpkg-gencontrol -pkasparro -Pdebian/kasparro -Tdebian/substvars -v"$VERSION"
)
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$pkg/DEBIAN/md5sums"
deb=$OUT/kasparro_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >/dev/null
echo "$deb"
