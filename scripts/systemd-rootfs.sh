#!/usr/bin/env bash
# A Debian 12 root filesystem for the real-systemd test: systemd as init, nginx, PostgreSQL, the
# package's shared libraries, certbot with Debian's pebble (a test ACME CA), cloud-init and nftables
# already in it (the container has no network). Built once with
# debootstrap and cached outside the repository, keyed by its package list.
# Usage: systemd-rootfs.sh   (prints the directory)
set -euo pipefail
PACKAGES=systemd,systemd-sysv,dbus,nginx,libnginx-mod-http-brotli-filter,postgresql,libfcgi0ldbl,libpq5,libcurl4,openssl,curl,ca-certificates,procps,python3,jq,python3-cffi-backend,certbot,pebble,cloud-init,nftables,iproute2
# (python3-cffi-backend by name: debootstrap does not resolve the virtual package python3-cryptography needs)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${KASPARRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kasparro}
key=$(printf '%s %s bookworm minbase' "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-16)
dir=$CACHE/rootfs-$key
if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir" "$dir.partial"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$dir.partial" "$MIRROR" >"$CACHE/debootstrap-$key.log" 2>&1 \
        || { echo "systemd-rootfs.sh: debootstrap failed; see $CACHE/debootstrap-$key.log" >&2; exit 1; }
    touch "$dir.partial/.complete"
    mv "$dir.partial" "$dir"
fi
# Set-up applied to the cached tree on every call (idempotent, cheap), so changing it needs no
# new debootstrap. A real host has shared mount propagation on /; systemd leaves it private inside
# a container, and then LoadCredential= (its credentials mount) is invisible to the service.
cat >"$dir/etc/systemd/system/rshared-root.service" <<'UNIT'
[Unit]
Description=Shared mount propagation on / (as on a host)
DefaultDependencies=no
Before=local-fs-pre.target sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/mount --make-rshared /

[Install]
WantedBy=sysinit.target
UNIT
chroot "$dir" systemctl enable rshared-root.service >/dev/null 2>&1
# cloud-init (installed for the cloud recipe's tests) stays off unless a test boots a copy with
# user-data of its own (Tests/integration/test_cloud_init.py removes this file in that copy).
touch "$dir/etc/cloud/cloud-init.disabled"
# Boot quietly and quickly: no getty on a console nobody reads, no network waits.
chroot "$dir" systemctl mask getty@tty1.service serial-getty@console.service console-getty.service \
    systemd-networkd-wait-online.service >/dev/null 2>&1 || true
echo "$dir"
