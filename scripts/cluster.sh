#!/usr/bin/env bash
# `make cluster`: the product beyond one machine, on this one. Three PostgreSQL nodes under Patroni
# (etcd holds the leader key), two web nodes (nginx + a responder pool each, the product's own
# stack.sh), and HAProxy in front: TLS, API keys routed to one web node each by consistent hashing.
# Usage: cluster.sh up|down [--discard]|status|env|info|etl|psql-admin|node-start I|web N COMMAND.
# Everything lives in CLUSTER_DIR (default .cluster).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER_DIR=$(mkdir -p "${CLUSTER_DIR:-$ROOT/.cluster}" && cd "${CLUSTER_DIR:-$ROOT/.cluster}" && pwd)
CLUSTER_ENV=$CLUSTER_DIR/cluster.env
# A cluster's ports are chosen once and kept; a variable the caller sets still wins.
. "$ROOT/scripts/settings-file.sh"
load_settings "$CLUSTER_ENV"
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
BALANCER_PORT=${BALANCER_PORT:-9443}
# SYNC=1: synchronous replication (Patroni's synchronous_mode + synchronous_mode_strict): a
# committed ETL batch is on two nodes before the commit returns, and writes stop while no
# synchronous standby answers (docs/operations.md, "Database failover").
SYNC=${SYNC:-0}
NODES=3
WEB_NODES=2
# Every port the cluster needs, free and distinct: chosen together, with all of them held open
# until the last is picked (one at a time, the kernel may hand out the same port twice).
read -ra FREE <<<"$(python3 -c '
import socket
held = [socket.socket() for _ in range(16)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))')"
next_free() { FREE=("${FREE[@]:1}"); }
pick() {  # NAME: keep its value, or take the next free port
    if [ -z "${!1:-}" ]; then printf -v "$1" '%s' "${FREE[0]}"; next_free; fi
}
for name in ETCD_CLIENT_PORT ETCD_PEER_PORT FIXTURE_PORT HAPROXY_STATS_PORT; do pick "$name"; done
for i in $(seq 1 $NODES); do pick "PG_PORT_$i"; pick "REST_PORT_$i"; done
for n in $(seq 1 $WEB_NODES); do pick "WEB_PORT_$n"; pick "WEB_HTTP_PORT_$n"; done
PG_DIR=$CLUSTER_DIR/pg
LOG_DIR=$CLUSTER_DIR/log
PATRONI_DIR=$CLUSTER_DIR/patroni
HAPROXY_DIR=$CLUSTER_DIR/haproxy
PGPASSFILE=$CLUSTER_DIR/pgpass
export PGPASSFILE

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }
running() { kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_super() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }
port_of() { local v="$1_$2"; echo "${!v}"; }
db_hosts() { for i in $(seq 1 $NODES); do printf '127.0.0.1:%s' "$(port_of PG_PORT "$i")"; [ "$i" = $NODES ] || printf ','; done; }

save_env() {
    {
        echo "BALANCER_PORT=$BALANCER_PORT"
        echo "ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT"
        echo "ETCD_PEER_PORT=$ETCD_PEER_PORT"
        echo "SYNC=$SYNC"
        echo "FIXTURE_PORT=$FIXTURE_PORT"
        echo "HAPROXY_STATS_PORT=$HAPROXY_STATS_PORT"
        for i in $(seq 1 $NODES); do echo "PG_PORT_$i=$(port_of PG_PORT "$i")"; echo "REST_PORT_$i=$(port_of REST_PORT "$i")"; done
        for n in $(seq 1 $WEB_NODES); do echo "WEB_PORT_$n=$(port_of WEB_PORT "$n")"; echo "WEB_HTTP_PORT_$n=$(port_of WEB_HTTP_PORT "$n")"; done
    } >"$CLUSTER_ENV"
}

# A web node is a stack.sh stack of its own (responders and nginx only) reading the cluster.
web() {
    local n=$1
    shift
    RUN_DIR=$CLUSTER_DIR/web-$n HTTPS_PORT=$(port_of WEB_PORT "$n") HTTP_PORT=$(port_of WEB_HTTP_PORT "$n") \
        DB_HOSTS=$(db_hosts) BEHIND_BALANCER=127.0.0.1 BIN_DIR=$BIN_DIR \
        "$ROOT/scripts/stack.sh" "$@"
}

# The cluster's own stack.sh view, for what runs against the primary: roles, migrations, the ETL.
on_primary() {
    RUN_DIR=$CLUSTER_DIR PG_PORT=$(leader_port) DB_HOSTS=$(db_hosts) BIN_DIR=$BIN_DIR FIXTURE_PORT=$FIXTURE_PORT \
        "$ROOT/scripts/stack.sh" "$@"
}

secret() {  # a password kept in CLUSTER_DIR/secrets/NAME (0600), made once
    mkdir -p "$CLUSTER_DIR/secrets"
    chmod 700 "$CLUSTER_DIR/secrets"
    [ -s "$CLUSTER_DIR/secrets/$1" ] || (umask 077; openssl rand -hex 24 >"$CLUSTER_DIR/secrets/$1")
    cat "$CLUSTER_DIR/secrets/$1"
}

start_etcd() {
    local pidfile=$CLUSTER_DIR/etcd.pid
    if [ -f "$pidfile" ] && running "$(cat "$pidfile")"; then return 0; fi
    mkdir -p "$CLUSTER_DIR/etcd" "$LOG_DIR"
    chmod 700 "$CLUSTER_DIR/etcd"
    setsid etcd --name etcd1 --data-dir "$CLUSTER_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "etcd1=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
        </dev/null >>"$LOG_DIR/etcd.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "etcd did not start; see $LOG_DIR/etcd.log"
}

# Patroni's configuration for node I: the timeouts of docs/operations.md (loop_wait + 2 ×
# retry_timeout ≤ ttl: 2 + 2 × 3 = 8 ≤ 10), pg_rewind for a failed primary's rejoin.
patroni_config() {
    local i=$1 super
    super=$(pg_super)
    cat <<YAML
scope: kasparro
namespace: /kasparro/
name: pg$i
log:
  level: INFO
  dir: $LOG_DIR/patroni-$i
restapi:
  listen: 127.0.0.1:$(port_of REST_PORT "$i")
  connect_address: 127.0.0.1:$(port_of REST_PORT "$i")
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    maximum_lag_on_failover: 16777216
    synchronous_mode: $([ "$SYNC" = 1 ] && echo true || echo false)
    synchronous_mode_strict: $([ "$SYNC" = 1 ] && echo true || echo false)
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        shared_buffers: 128MB
        wal_level: replica
        wal_log_hints: "on"
        hot_standby: "on"
        hot_standby_feedback: "on"
        max_standby_streaming_delay: 10s
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all peer
    - host replication kasparro_replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$(port_of PG_PORT "$i")
  connect_address: 127.0.0.1:$(port_of PG_PORT "$i")
  data_dir: $PG_DIR/node-$i
  bin_dir: $(pg_bin)
  pgpass: $PATRONI_DIR/pgpass-$i
  authentication:
    superuser:
      username: $super
      password: $(secret superuser)
    replication:
      username: kasparro_replicator
      password: $(secret replication)
    rewind:
      username: kasparro_rewind
      password: $(secret rewind)
  parameters:
    unix_socket_directories: $PG_DIR/sock
  basebackup:
    - checkpoint: fast
YAML
}

start_node() {
    local i=$1
    local pidfile=$PATRONI_DIR/patroni-$i.pid
    if [ -f "$pidfile" ] && running "$(cat "$pidfile")"; then return 0; fi
    mkdir -p "$PATRONI_DIR" "$PG_DIR/sock" "$LOG_DIR/patroni-$i"
    (umask 077; patroni_config "$i" >"$PATRONI_DIR/pg$i.yml")
    if [ "$(id -u)" = 0 ]; then
        chmod 755 "$CLUSTER_DIR" "$LOG_DIR"
        chown postgres "$PATRONI_DIR" "$PATRONI_DIR/pg$i.yml" "$PG_DIR" "$PG_DIR/sock" "$LOG_DIR/patroni-$i"
    fi
    # The secrets are in the file (0600, the server's user only), never on a command line. Patroni
    # leads a session of its own with its PostgreSQL in it (a node lost is that process group).
    rm -f "$pidfile"
    as_pg sh -c 'echo $$ >"$1"; exec setsid patroni "$2"' patroni "$pidfile" "$PATRONI_DIR/pg$i.yml" \
        </dev/null >>"$LOG_DIR/patroni-$i.out" 2>&1 &
    for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
}

# The REST port's node that answers /primary (Patroni: 200 on the leader only).
leader_node() {
    local i
    for i in $(seq 1 $NODES); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port_of REST_PORT "$i")/primary")" = 200 ]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}
leader_port() { port_of PG_PORT "$(leader_node)"; }

wait_for_leader() {
    for _ in $(seq 1 600); do
        leader_node >/dev/null && return 0
        sleep 0.1
    done
    die "no Patroni node became the primary within 60 s; see $LOG_DIR/patroni-*"
}

pgpass() {
    [ -s "$PGPASSFILE" ] && return 0
    (umask 077; printf '127.0.0.1:*:*:kasparro_etl:%s\n127.0.0.1:*:*:kasparro_api:%s\n' \
        "$(secret etl)" "$(secret api)" >"$PGPASSFILE")
}

haproxy_start() {
    mkdir -p "$HAPROXY_DIR"
    # The balancer ends TLS: its certificate (self-signed here; an ACME one in production, as on
    # one node) and the web nodes' certificate it verifies when it connects to them again.
    if [ ! -s "$HAPROXY_DIR/tls.pem" ]; then
        (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
            -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$HAPROXY_DIR/tls.key" -out "$HAPROXY_DIR/tls.crt" 2>/dev/null
         cat "$HAPROXY_DIR/tls.crt" "$HAPROXY_DIR/tls.key" >"$HAPROXY_DIR/tls.pem")
    fi
    python3 "$ROOT/scripts/render.py" "$ROOT/deploy/cluster/haproxy.cfg.template" "$HAPROXY_DIR/haproxy.cfg" \
        BIND="127.0.0.1:$BALANCER_PORT" CERT="$HAPROXY_DIR/tls.pem" BACKEND_CA="$CLUSTER_DIR/web-1/nginx/tls.crt" \
        SERVERS="$(for n in $(seq 1 $WEB_NODES); do printf '    server web%s 127.0.0.1:%s\\n' "$n" "$(port_of WEB_PORT "$n")"; done)" \
        STATS="127.0.0.1:$HAPROXY_STATS_PORT"
    sed -i 's/\\n/\n/g' "$HAPROXY_DIR/haproxy.cfg"
    haproxy -c -q -f "$HAPROXY_DIR/haproxy.cfg" || die "HAProxy configuration test failed"
    if [ -f "$HAPROXY_DIR/haproxy.pid" ] && running "$(cat "$HAPROXY_DIR/haproxy.pid")"; then
        haproxy -D -f "$HAPROXY_DIR/haproxy.cfg" -p "$HAPROXY_DIR/haproxy.pid" -sf "$(cat "$HAPROXY_DIR/haproxy.pid")"
    else
        haproxy -D -f "$HAPROXY_DIR/haproxy.cfg" -p "$HAPROXY_DIR/haproxy.pid"
    fi
}

cmd_up() {
    command -v patroni >/dev/null && command -v etcd >/dev/null && command -v haproxy >/dev/null \
        || die "patroni, etcd-server and haproxy are needed (make deps installs them)"
    save_env
    start_etcd
    for i in $(seq 1 $NODES); do start_node "$i"; done
    wait_for_leader
    log "primary: node $(leader_node) (127.0.0.1:$(leader_port))"
    pgpass
    on_primary db-setup
    on_primary migrate || die "migration failed; see $CLUSTER_DIR/log/etl.log"
    [ -z "${REPLAY:-}" ] || on_primary fixture-start
    REPLAY=${REPLAY:-} on_primary etl || true
    for n in $(seq 1 $WEB_NODES); do
        mkdir -p "$CLUSTER_DIR/web-$n/nginx"
        if [ "$n" -gt 1 ]; then  # one set of keys and one certificate for every web node
            cp "$CLUSTER_DIR/web-1/api-key" "$CLUSTER_DIR/web-1/bench-api-key" "$CLUSTER_DIR/web-$n/"
            cp "$CLUSTER_DIR/web-1/nginx/api-keys.map" "$CLUSTER_DIR/web-1/nginx/tls.crt" "$CLUSTER_DIR/web-1/nginx/tls.key" \
                "$CLUSTER_DIR/web-$n/nginx/"
        fi
        cp "$PGPASSFILE" "$CLUSTER_DIR/web-$n/pgpass"
        web "$n" api-start
        web "$n" tls
        web "$n" keys
        web "$n" nginx-start
    done
    cp "$CLUSTER_DIR/web-1/api-key" "$CLUSTER_DIR/web-1/bench-api-key" "$CLUSTER_DIR/"
    haproxy_start
}

stop_pidfile() {  # TERM the process a pidfile names and wait for it (at most 10 s)
    [ -f "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do running "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
    local discard=${1:-}
    stop_pidfile "$HAPROXY_DIR/haproxy.pid"
    for n in $(seq 1 $WEB_NODES); do
        [ -d "$CLUSTER_DIR/web-$n" ] && web "$n" down >/dev/null 2>&1 || true
    done
    on_primary fixture-stop >/dev/null 2>&1 || true
    # Patroni stops its PostgreSQL on SIGTERM (fast shutdown); --discard kills both outright.
    local pids=() i pid
    for i in $(seq 1 $NODES); do
        [ -f "$PATRONI_DIR/patroni-$i.pid" ] || continue
        pid=$(cat "$PATRONI_DIR/patroni-$i.pid")
        if [ "$discard" = --discard ]; then
            [ -f "$PG_DIR/node-$i/postmaster.pid" ] && kill -KILL "$(head -n 1 "$PG_DIR/node-$i/postmaster.pid")" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
        pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 300); do running "$pid" || break; sleep 0.1; done
    done
    # Whatever a killed Patroni left: its PostgreSQL's postmaster.
    for i in $(seq 1 $NODES); do
        [ -f "$PG_DIR/node-$i/postmaster.pid" ] || continue
        pid=$(head -n 1 "$PG_DIR/node-$i/postmaster.pid")
        running "$pid" && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DIR/node-$i" -m immediate -w stop >/dev/null 2>&1 || true
    done
    stop_pidfile "$CLUSTER_DIR/etcd.pid"
    # Replication slots live in the nodes' data directories and the leader key in etcd: the
    # cluster's state goes with them (`make cluster` starts a new one).
    rm -rf "$PG_DIR" "$PATRONI_DIR" "$CLUSTER_DIR/etcd" "$CLUSTER_DIR"/web-* "$HAPROXY_DIR" "$CLUSTER_DIR/etcd.pid" "$CLUSTER_ENV" "$CLUSTER_DIR/api-key" "$CLUSTER_DIR/bench-api-key"
}

cmd_status() {
    patronictl -c "$PATRONI_DIR/pg1.yml" list 2>/dev/null || echo "Patroni: not running"
    for n in $(seq 1 $WEB_NODES); do
        printf 'web node %s 127.0.0.1:%s  %s\n' "$n" "$(port_of WEB_PORT "$n")" \
            "$(curl -sk -o /dev/null -w '%{http_code}' --haproxy-protocol "https://127.0.0.1:$(port_of WEB_PORT "$n")/health" 2>/dev/null || echo down)"
    done
}

cmd_env() {
    cat <<ENV
CLUSTER_DIR=$CLUSTER_DIR
BALANCER_URL=https://localhost:$BALANCER_PORT
BALANCER_CA=$HAPROXY_DIR/tls.crt
DB_HOSTS=$(db_hosts)
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
PGPASSFILE=$PGPASSFILE
SYNC=$SYNC
ENV
    for i in $(seq 1 $NODES); do echo "PG_PORT_$i=$(port_of PG_PORT "$i")"; echo "REST_PORT_$i=$(port_of REST_PORT "$i")"; done
    for n in $(seq 1 $WEB_NODES); do echo "WEB_PORT_$n=$(port_of WEB_PORT "$n")"; done
}

cmd_info() {
    local base="https://localhost:$BALANCER_PORT"
    echo "kasparro cluster is up: $base (HAProxy; self-signed certificate, hence -k)"
    echo "  curl -sk $base/health"
    echo "  curl -sk -H \"x-api-key: \$(cat $CLUSTER_DIR/api-key)\" '$base/data?symbol=btc&page_size=5'"
    echo "  database nodes: make cluster-status; logs: $LOG_DIR/; stop: make cluster-down"
}

case ${1:-} in
    up) cmd_up; cmd_info ;;
    down) cmd_down "${2:-}" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    info) cmd_info ;;
    etl) shift; on_primary etl "$@" ;;
    node-start) start_node "$2" ;;
    web) shift; n=$1; shift; web "$n" "$@" ;;
    psql-admin) shift; on_primary psql-admin "$@" ;;
    *) echo "usage: cluster.sh up|down [--discard]|status|env|info|etl ARGS|psql-admin ARGS|node-start I|web N STACK-COMMAND" >&2; exit 2 ;;
esac
