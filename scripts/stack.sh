#!/usr/bin/env bash
# The local stack for `make up` and the tests: PostgreSQL cluster, roles, migrations, ETL,
# responder pool and nginx, all under one run directory. Usage: stack.sh COMMAND (see `usage`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=$(mkdir -p "${RUN_DIR:-$ROOT/.run}" && cd "${RUN_DIR:-$ROOT/.run}" && pwd)
# The ports a stack was first brought up with are its ports: every later command (make etl,
# status, bench, down) reads them from the run directory. A variable the caller sets still wins.
STACK_ENV=$RUN_DIR/stack.env
. "$ROOT/scripts/settings-file.sh"
load_settings "$STACK_ENV"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
DOCS_DIR=${DOCS_DIR:-$ROOT/.build-docs}
PG_PORT=${PG_PORT:-54329}
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
# The benchmark's static server: a free port, not one derived from HTTPS_PORT (a neighbour's, maybe).
BENCH_STATIC_PORT=${BENCH_STATIC_PORT:-$(free_port)}
RESPONDERS=${RESPONDERS:-2}
RESPONDER_THREADS=${RESPONDER_THREADS:-32}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-16}
NGINX_WORKERS=${NGINX_WORKERS:-2}
RATE_STANDARD=${RATE_STANDARD:-20r/s}
BURST_STANDARD=${BURST_STANDARD:-40}
RATE_HIGH=${RATE_HIGH:-100000r/s}
BURST_HIGH=${BURST_HIGH:-100000}
RATE_UNAUTHENTICATED=${RATE_UNAUTHENTICATED:-5r/s}
BURST_UNAUTHENTICATED=${BURST_UNAUTHENTICATED:-10}
CSV_SOURCE_DIR=${CSV_SOURCE_DIR:-$ROOT/../shared/samples/csv}
# REPLAY=1: both API sources read the local fixture server replaying ../shared/samples.
REPLAY=${REPLAY:-}
# FIXTURE_EVOLVE=1 (make soak): that server answers a new SYNTHETIC snapshot on every request.
FIXTURE_EVOLVE=${FIXTURE_EVOLVE:-}
FIXTURE_PORT=${FIXTURE_PORT:-18089}
DB_NAME=kasparro
# STANDBYS=N: N streaming hot standbys of the cluster, each on a port of its own (make up STANDBYS=1).
STANDBYS=${STANDBYS:-0}
STANDBY_PORTS=${STANDBY_PORTS:-}

PG_DIR=$RUN_DIR/pg
LOG_DIR=$RUN_DIR/log
SOCK_DIR=$RUN_DIR/sock
NGINX_DIR=$RUN_DIR/nginx
PGPASSFILE=$RUN_DIR/pgpass
export PGPASSFILE
# DB_HOSTS=host:port,... (a web node of `make cluster`): the database is a set of nodes, any of
# which may be the primary after a failover; the ETL takes whichever is read-write, responders prefer
# a standby (each responder starting at a different node) and fall back to the primary.
DB_HOSTS=${DB_HOSTS:-}
# BEHIND_BALANCER=ADDRESS: nginx takes the PROXY protocol from the balancer at ADDRESS and limits
# requests without a key by the client's address it reports.
BEHIND_BALANCER=${BEHIND_BALANCER:-}
# The ETL writes: it only ever takes a read-write session (the primary).
ETL_URL="postgresql://kasparro_etl@${DB_HOSTS:-127.0.0.1:$PG_PORT}/$DB_NAME?target_session_attrs=read-write"
API_URL="postgresql://kasparro_api@127.0.0.1:$PG_PORT/$DB_NAME"

# The port of standby K (1-based): free ports chosen once, kept in stack.env.
standby_port() { echo "$STANDBY_PORTS" | tr ',' '\n' | sed -n "${1}p"; }

# Responder I's DATABASE_URL: with standbys, every standby first (starting at a different one for
# each responder, so the pool spreads over them), the primary last; libpq takes the first that is
# a standby (target_session_attrs=prefer-standby) and the primary only when none answers.
api_url_for() {
    local i=$1
    if [ -n "$DB_HOSTS" ]; then
        local nodes n
        IFS=, read -ra nodes <<<"$DB_HOSTS"
        n=${#nodes[@]}
        local rotated=("${nodes[@]:$(( (i - 1) % n ))}" "${nodes[@]:0:$(( (i - 1) % n ))}")
        echo "postgresql://kasparro_api@$(IFS=,; echo "${rotated[*]}")/$DB_NAME?target_session_attrs=prefer-standby"
        return
    fi
    if [ "$STANDBYS" -eq 0 ]; then echo "$API_URL"; return; fi
    local hosts="" k
    for n in $(seq 0 $((STANDBYS - 1))); do
        k=$(( (i - 1 + n) % STANDBYS + 1 ))
        hosts+="127.0.0.1:$(standby_port "$k"),"
    done
    echo "postgresql://kasparro_api@${hosts}127.0.0.1:$PG_PORT/$DB_NAME?target_session_attrs=prefer-standby"
}

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }
# A process that has exited but not been reaped (a zombie) still answers kill -0: not running.
running() { kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    echo "$dir"
}

# initdb refuses to run as root: as root, the cluster belongs to the postgres system user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_super() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
psql_admin() {
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR/sock" -p "$PG_PORT" -U "$(pg_super)" "$@"
}

cmd_deps() {
    local want=(libfcgi-dev libfcgi-bin systemd libpq-dev libcurl4-openssl-dev nginx postgresql openssl curl python3-venv wrk
                prometheus chromium chromium-driver podman runc debootstrap lintian chrpath libnginx-mod-http-brotli-filter
                patroni etcd-server etcd-client haproxy)
    local missing=()
    for pkg in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

cmd_pg_start() {
    local bin
    bin=$(pg_bin)
    mkdir -p "$PG_DIR" "$LOG_DIR"
    [ "$(id -u)" = 0 ] && chmod 755 "$RUN_DIR" && chown postgres "$PG_DIR"
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        log "creating PostgreSQL cluster in $PG_DIR/data"
        as_pg "$bin/initdb" -D "$PG_DIR/data" -U "$(pg_super)" --auth-local=peer --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        as_pg mkdir -p "$PG_DIR/sock"
        cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/sock'
max_connections = 200
shared_buffers = 128MB
fsync = on
CONF
    fi
    if as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then return 0; fi
    touch "$LOG_DIR/postgresql.log"
    [ "$(id -u)" = 0 ] && chown postgres "$LOG_DIR/postgresql.log"
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -o "-p $PG_PORT" -l "$LOG_DIR/postgresql.log" -w -t 30 start >/dev/null \
        || die "PostgreSQL did not start; see $LOG_DIR/postgresql.log"
}

cmd_pg_stop() {
    local bin
    bin=$(pg_bin)
    [ -f "$PG_DIR/data/PG_VERSION" ] || return 0
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m "$PG_STOP_MODE" -w stop >/dev/null 2>&1 || true
}

# Streaming hot standbys: pg_basebackup -R of the primary, one physical replication slot each. The
# replication role's password lives only in a pgpass file the server's user can read. A standby is
# a copy: `make down` stops it, drops its slot (an orphaned slot keeps WAL forever) and removes
# it; the next `make up` clones it again (seconds at this size).
REPL_PGPASS=$PG_DIR/replication.pgpass

cmd_standbys_start() {
    [ "$STANDBYS" -gt 0 ] || return 0
    local bin k port dir
    bin=$(pg_bin)
    if [ -z "$STANDBY_PORTS" ] || [ "$(echo "$STANDBY_PORTS" | tr ',' '\n' | grep -c .)" -lt "$STANDBYS" ]; then
        STANDBY_PORTS=$(for _ in $(seq 1 "$STANDBYS"); do free_port; done | paste -sd, -)
        save_stack_env
    fi
    if [ ! -s "$REPL_PGPASS" ]; then
        (umask 077; printf '127.0.0.1:%s:replication:kasparro_replicator:%s\n' "$PG_PORT" "$(openssl rand -hex 24)" >"$REPL_PGPASS")
        [ "$(id -u)" = 0 ] && chown postgres "$REPL_PGPASS"
    fi
    local repl_pw
    repl_pw=$(awk -F: '{print $5}' "$REPL_PGPASS")
    psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE kasparro_replicator REPLICATION LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasparro_replicator') \gexec
ALTER ROLE kasparro_replicator PASSWORD '$repl_pw';
SQL
    for k in $(seq 1 "$STANDBYS"); do
        port=$(standby_port "$k")
        dir=$PG_DIR/standby-$k
        # The application roles log in on the standby's port with the passwords they have on the primary.
        for role in kasparro_etl kasparro_api; do
            grep -q "^127.0.0.1:$port:\*:$role:" "$PGPASSFILE" \
                || awk -F: -v p="$port" -v r="$role" '$2 != p && $4 == r {print "127.0.0.1:" p ":*:" r ":" $5; exit}' "$PGPASSFILE" >>"$PGPASSFILE"
        done
        if [ ! -f "$dir/PG_VERSION" ]; then
            log "cloning standby $k (port $port) from the primary"
            psql_admin -d postgres -c "SELECT pg_drop_replication_slot('kasparro_standby_$k') FROM pg_replication_slots WHERE slot_name = 'kasparro_standby_$k'" >/dev/null
            as_pg env PGPASSFILE="$REPL_PGPASS" "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U kasparro_replicator -w \
                -D "$dir" -R -X stream -C -S "kasparro_standby_$k" --checkpoint=fast >/dev/null \
                || die "pg_basebackup of standby $k failed"
            # hot_standby_feedback: the primary's vacuum keeps rows a standby query still reads, so
            # those queries are not cancelled. max_standby_streaming_delay: replay of a conflicting
            # lock (a retention DROP) waits for running queries (at most the API's 5 s statement
            # timeout) instead of cancelling them at once.
            as_pg tee -a "$dir/postgresql.conf" >/dev/null <<CONF
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 10s
CONF
        fi
        if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
            touch "$LOG_DIR/postgresql-standby-$k.log"
            [ "$(id -u)" = 0 ] && chown postgres "$LOG_DIR/postgresql-standby-$k.log"
            as_pg "$bin/pg_ctl" -D "$dir" -o "-p $port" -l "$LOG_DIR/postgresql-standby-$k.log" -w -t 30 start >/dev/null \
                || die "standby $k did not start; see $LOG_DIR/postgresql-standby-$k.log"
        fi
    done
}

# Stops every standby, drops its slot on the primary and removes its copy.
cmd_standbys_stop() {
    local bin dir k
    bin=$(pg_bin)
    for dir in "$PG_DIR"/standby-*; do
        [ -f "$dir/PG_VERSION" ] || continue
        k=${dir##*standby-}
        as_pg "$bin/pg_ctl" -D "$dir" -m "$PG_STOP_MODE" -w stop >/dev/null 2>&1 || true
        psql_admin -d postgres -c "SELECT pg_drop_replication_slot('kasparro_standby_$k') FROM pg_replication_slots WHERE slot_name = 'kasparro_standby_$k'" >/dev/null 2>&1 \
            || log "could not drop replication slot kasparro_standby_$k (primary down?)"
        rm -rf "$dir"
    done
}

# One standby (kill -9 and restart in the tests): standby-stop K / standby-start K.
cmd_standby_signal() {
    local bin k=$2 dir
    bin=$(pg_bin)
    dir=$PG_DIR/standby-$k
    case $1 in
        start) as_pg "$bin/pg_ctl" -D "$dir" -o "-p $(standby_port "$k")" -l "$LOG_DIR/postgresql-standby-$k.log" -w -t 30 start >/dev/null ;;
        pid) head -n 1 "$dir/postmaster.pid" ;;
    esac
}

# Each database's role and replay lag (make status).
cmd_pg_status() {
    local port role
    for port in "$PG_PORT" $(echo "$STANDBY_PORTS" | tr ',' ' '); do
        [ -n "$port" ] || continue
        if ! as_pg psql -X -q -At -h "$PG_DIR/sock" -p "$port" -U "$(pg_super)" -d postgres -c "SELECT 1" >/dev/null 2>&1; then
            printf 'database 127.0.0.1:%s  down\n' "$port"
            continue
        fi
        as_pg psql -X -q -At -h "$PG_DIR/sock" -p "$port" -U "$(pg_super)" -d postgres -F ' ' -c "
SELECT 'database 127.0.0.1:$port', CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
       CASE WHEN pg_is_in_recovery() THEN
         'replay lag ' || coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) || ' bytes, '
         || CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN '0'
                 ELSE round(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::text END || ' s'
         || CASE WHEN pg_is_wal_replay_paused() THEN ' (replay paused)' ELSE '' END
       ELSE (SELECT 'standbys streaming: ' || count(*) FROM pg_stat_replication WHERE state = 'streaming') END"
    done
}

# Roles: kasparro_etl owns the database and writes; kasparro_api may only read.
# Passwords are random, live only in the pgpass file (0600), never in a URL or an argument.
cmd_db_setup() {
    if [ ! -s "$PGPASSFILE" ]; then
        umask 077
        printf "127.0.0.1:%s:*:kasparro_etl:%s\n127.0.0.1:%s:*:kasparro_api:%s\n" \
            "$PG_PORT" "$(openssl rand -hex 24)" "$PG_PORT" "$(openssl rand -hex 24)" >"$PGPASSFILE"
        umask 022
    fi
    local etl_pw api_pw
    etl_pw=$(awk -F: '$4=="kasparro_etl"{print $5; exit}' "$PGPASSFILE")
    api_pw=$(awk -F: '$4=="kasparro_api"{print $5; exit}' "$PGPASSFILE")
    # The passwords go to psql on standard input, not on its command line.
    psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE kasparro_etl LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasparro_etl') \gexec
SELECT 'CREATE ROLE kasparro_api LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasparro_api') \gexec
ALTER ROLE kasparro_etl PASSWORD '$etl_pw';
ALTER ROLE kasparro_api PASSWORD '$api_pw';
ALTER ROLE kasparro_api SET default_transaction_read_only = on;
SELECT 'CREATE DATABASE $DB_NAME OWNER kasparro_etl' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
REVOKE ALL ON DATABASE $DB_NAME FROM PUBLIC;
GRANT CONNECT ON DATABASE $DB_NAME TO kasparro_etl, kasparro_api;
SQL
}

# A fresh database for one test, owned by the ETL role and readable by the API role after migration.
cmd_createdb() {
    local name=$1
    psql_admin -d postgres <<SQL
DROP DATABASE IF EXISTS $name WITH (FORCE);
CREATE DATABASE $name OWNER kasparro_etl;
REVOKE ALL ON DATABASE $name FROM PUBLIC;
GRANT CONNECT ON DATABASE $name TO kasparro_etl, kasparro_api;
SQL
}

etl_env() {
    local replay=()
    # A fixture server started by `make up REPLAY=1` keeps serving later `make etl` runs.
    if [ -z "$REPLAY" ] && [ -f "$RUN_DIR/fixture.pid" ] && running "$(cat "$RUN_DIR/fixture.pid")"; then
        REPLAY=1
    fi
    if [ -n "$REPLAY" ]; then
        # This stack's own fixture server (the port it reported), unless the caller names other URLs.
        local port
        port=$(cat "$RUN_DIR/fixture.port" 2>/dev/null || echo "$FIXTURE_PORT")
        replay=(COINPAPRIKA_BASE_URL="${COINPAPRIKA_BASE_URL:-http://127.0.0.1:$port/paprika/v1}"
                COINGECKO_BASE_URL="${COINGECKO_BASE_URL:-http://127.0.0.1:$port/gecko/api/v3}"
                COINGECKO_REQUESTS_PER_MINUTE="${COINGECKO_REQUESTS_PER_MINUTE:-600}")
    fi
    env DATABASE_URL="$ETL_URL" PGPASSFILE="$PGPASSFILE" CSV_SOURCE_DIR="$CSV_SOURCE_DIR" "${replay[@]}" "$@"
}

cmd_fixture_start() {
    local pidfile="$RUN_DIR/fixture.pid"
    if [ -f "$pidfile" ] && running "$(cat "$pidfile")"; then return 0; fi
    mkdir -p "$LOG_DIR"
    setsid python3 "$ROOT/Tests/fixtures/fixture_server.py" --port "$FIXTURE_PORT" ${FIXTURE_EVOLVE:+--evolve} </dev/null \
        >"$RUN_DIR/fixture.port" 2>>"$LOG_DIR/fixture.log" &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do [ -s "$RUN_DIR/fixture.port" ] && break; sleep 0.05; done
    [ -s "$RUN_DIR/fixture.port" ] || die "fixture server did not start; see $LOG_DIR/fixture.log"
}

cmd_fixture_stop() {
    local pidfile="$RUN_DIR/fixture.pid"
    [ -f "$pidfile" ] || return 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" "$RUN_DIR/fixture.port"
}

cmd_migrate() { etl_env "$BIN_DIR/kasparro-etl" migrate 2>>"$LOG_DIR/etl.log"; }

cmd_etl() {
    local status=0
    etl_env "$BIN_DIR/kasparro-etl" run "$@" 2>>"$LOG_DIR/etl.log" || status=$?
    case $status in
        0) ;;
        2) log "ETL finished with failed sources (exit 2); see $LOG_DIR/etl.log" ;;
        *) log "ETL failed (exit $status); see $LOG_DIR/etl.log" ;;
    esac
    return $status
}

cmd_api_start() {
    mkdir -p "$SOCK_DIR" "$LOG_DIR"
    chmod 755 "$SOCK_DIR"
    for i in $(seq 1 "$RESPONDERS"); do start_responder "$i"; done
}

start_responder() {
    local i=$1 pidfile="$SOCK_DIR/api-$1.pid" sock="$SOCK_DIR/api-$1.sock"
    if [ -f "$pidfile" ] && running "$(cat "$pidfile")"; then return 0; fi
    # A socket left by a killed responder would pass the wait below before the new one binds.
    rm -f "$sock"
    env DATABASE_URL="$(api_url_for "$i")" PGPASSFILE="$PGPASSFILE" LOG_LEVEL="${LOG_LEVEL:-info}" \
        setsid "$BIN_DIR/kasparro-api" --socket "$sock" --socket-mode 660 --threads "$RESPONDER_THREADS" \
        --metrics-file "$SOCK_DIR/metrics" \
        </dev/null >>"$LOG_DIR/api-$i.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || die "responder $i did not create $sock; see $LOG_DIR/api-$i.log"
    # nginx workers run as nobody:nogroup when the master runs as root.
    [ "$(id -u)" = 0 ] && chgrp nogroup "$sock"
    return 0
}

cmd_api_stop() {
    for pidfile in "$SOCK_DIR"/api-*.pid; do
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if running "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 60); do running "$pid" || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

cmd_tls() {
    mkdir -p "$NGINX_DIR"
    [ -s "$NGINX_DIR/tls.key" ] && return 0
    log "creating a self-signed certificate for localhost"
    (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$NGINX_DIR/tls.key" -out "$NGINX_DIR/tls.crt" 2>/dev/null)
}

# Two dev clients: `dev` (standard tier) and `bench` (high tier, for make bench).
cmd_keys() {
    mkdir -p "$NGINX_DIR"
    [ -s "$RUN_DIR/api-key" ] || (umask 077; openssl rand -hex 24 >"$RUN_DIR/api-key")
    [ -s "$RUN_DIR/bench-api-key" ] || (umask 077; openssl rand -hex 24 >"$RUN_DIR/bench-api-key")
    local map=$NGINX_DIR/api-keys.map
    (umask 027; touch "$map")
    # Keys added with kasparro-keys stay; the two dev keys are (re)added when missing.
    grep -q "\"$(cat "$RUN_DIR/api-key")\"" "$map" || printf '"%s" "dev:standard";\n' "$(cat "$RUN_DIR/api-key")" >>"$map"
    grep -q "\"$(cat "$RUN_DIR/bench-api-key")\"" "$map" || printf '"%s" "bench:high";\n' "$(cat "$RUN_DIR/bench-api-key")" >>"$map"
}

# `kasparro-keys` against the dev stack's map and nginx.
cmd_keys_admin() {
    KEYS_MAP="$NGINX_DIR/api-keys.map" RELOAD="nginx -p $NGINX_DIR -c $NGINX_DIR/nginx.conf -e $LOG_DIR/nginx-error.log -s reload" \
        "$ROOT/scripts/kasparro-keys" "$@"
}

cmd_nginx_render() {
    mkdir -p "$NGINX_DIR/tmp" "$LOG_DIR"
    [ -f "$DOCS_DIR/swagger-ui-bundle.js" ] || "$ROOT/scripts/docs-ui.sh" "$DOCS_DIR"
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user nobody nogroup;"
    RESPONDERS="$RESPONDERS" SOCK_DIR="$SOCK_DIR" KEYS_MAP="$NGINX_DIR/api-keys.map" \
        RATE_STANDARD="$RATE_STANDARD" BURST_STANDARD="$BURST_STANDARD" RATE_HIGH="$RATE_HIGH" BURST_HIGH="$BURST_HIGH" \
        RATE_UNAUTHENTICATED="$RATE_UNAUTHENTICATED" BURST_UNAUTHENTICATED="$BURST_UNAUTHENTICATED" \
        UPSTREAM_KEEPALIVE="$UPSTREAM_KEEPALIVE" HTTP_LISTEN="127.0.0.1:$HTTP_PORT" HTTPS_LISTEN="127.0.0.1:$HTTPS_PORT" \
        SERVER_NAME=localhost TLS_CERT="$NGINX_DIR/tls.crt" TLS_KEY="$NGINX_DIR/tls.key" \
        SERVER_NAME_INCLUDE="$NGINX_DIR/server-name*.conf" ACME_ROOT="$NGINX_DIR/acme" \
        ACCESS_LOG="$LOG_DIR/nginx-access.log" ERRORS_DIR="$ROOT/nginx/errors" OPENAPI_FILE="$ROOT/docs/openapi.json" \
        DOCS_DIR="$DOCS_DIR" BEHIND_BALANCER="$BEHIND_BALANCER" \
        "$ROOT/scripts/render-site.sh" "$NGINX_DIR/kasparro.conf"
    python3 "$ROOT/scripts/render.py" "$ROOT/nginx/nginx-standalone.conf.template" "$NGINX_DIR/nginx.conf" \
        WORKERS="$NGINX_WORKERS" PREFIX="$NGINX_DIR" LOG_DIR="$LOG_DIR" USER_LINE="$user_line" \
        BENCH_STATIC_PORT="$BENCH_STATIC_PORT"
    mkdir -p "$NGINX_DIR/static"
}

nginx_cmd() { nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$LOG_DIR/nginx-error.log" "$@"; }

cmd_nginx_start() {
    cmd_nginx_render
    nginx_cmd -t -q || die "nginx configuration test failed"
    if [ -f "$NGINX_DIR/nginx.pid" ] && running "$(cat "$NGINX_DIR/nginx.pid")"; then
        nginx_cmd -s reload
    else
        nginx_cmd
    fi
}

cmd_nginx_stop() {
    if [ -f "$NGINX_DIR/nginx.pid" ] && running "$(cat "$NGINX_DIR/nginx.pid")"; then
        local pid
        pid=$(cat "$NGINX_DIR/nginx.pid")
        nginx_cmd -s quit 2>/dev/null || kill "$pid"
        for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# `make bench`'s ceiling: the stack's own site (same template, settings, keys and certificate) on
# PORT under DIR/nginx, in front of whatever listens on DIR/sock/api-N.sock.
use_bench_site() {
    local dir=$1
    mkdir -p "$dir/nginx" "$dir/sock" "$dir/log"
    NGINX_DIR_STACK=$NGINX_DIR
    NGINX_DIR=$dir/nginx SOCK_DIR=$dir/sock LOG_DIR=$dir/log
}

cmd_bench_site_start() {
    use_bench_site "$1"
    HTTPS_PORT=$2 HTTP_PORT=$(free_port) BENCH_STATIC_PORT=$(free_port)
    cp "$NGINX_DIR_STACK/tls.crt" "$NGINX_DIR_STACK/tls.key" "$NGINX_DIR_STACK/api-keys.map" "$NGINX_DIR/"
    cmd_nginx_start
}

cmd_bench_site_stop() {
    use_bench_site "$1"
    cmd_nginx_stop
}

save_stack_env() {
    printf 'PG_PORT=%s\nHTTPS_PORT=%s\nHTTP_PORT=%s\nBENCH_STATIC_PORT=%s\nFIXTURE_PORT=%s\nSTANDBYS=%s\nSTANDBY_PORTS=%s\n' \
        "$PG_PORT" "$HTTPS_PORT" "$HTTP_PORT" "$BENCH_STATIC_PORT" "$FIXTURE_PORT" "$STANDBYS" "$STANDBY_PORTS" >"$STACK_ENV"
}

cmd_up() {
    save_stack_env
    [ -z "$REPLAY" ] || cmd_fixture_start
    cmd_pg_start
    cmd_db_setup
    cmd_migrate || die "migration failed; see $LOG_DIR/etl.log"
    cmd_standbys_start
    cmd_etl || true
    cmd_api_start
    cmd_tls
    cmd_keys
    cmd_nginx_start
}

# How to reach this stack, with its own ports.
cmd_info() {
    local base="https://localhost:$HTTPS_PORT"
    echo "kasparro is up: $base (self-signed certificate, hence -k)"
    echo "  curl -sk $base/health"
    echo "  curl -sk -H \"x-api-key: \$(cat $RUN_DIR/api-key)\" '$base/data?symbol=btc&page_size=5'"
    echo "  API reference: $base/docs/"
    echo "logs: $LOG_DIR/   stop: make down"
}

# `down --discard`: for a stack whose run directory is removed next (tests, benchmarks): PostgreSQL
# stops at once, without the shutdown checkpoint that would write out what is about to be deleted.
PG_STOP_MODE=fast

cmd_down() {
    case ${1:-} in
        "") ;;
        --discard) PG_STOP_MODE=immediate ;;
        *) usage ;;
    esac
    cmd_nginx_stop
    cmd_api_stop
    cmd_fixture_stop
    cmd_standbys_stop
    cmd_pg_stop
}

# Settings for tests and tools, as shell assignments.
cmd_env() {
    cat <<ENV
RUN_DIR=$RUN_DIR
PG_PORT=$PG_PORT
HTTPS_PORT=$HTTPS_PORT
HTTP_PORT=$HTTP_PORT
BENCH_STATIC_PORT=$BENCH_STATIC_PORT
NGINX_DIR=$NGINX_DIR
PGPASSFILE=$PGPASSFILE
ETL_DATABASE_URL=$ETL_URL
API_DATABASE_URL=$API_URL
BIN_DIR=$BIN_DIR
SOCK_DIR=$SOCK_DIR
CSV_SOURCE_DIR=$CSV_SOURCE_DIR
STANDBYS=$STANDBYS
STANDBY_PORTS=$STANDBY_PORTS
RESPONDERS=$RESPONDERS
RESPONDER_THREADS=$RESPONDER_THREADS
ENV
}

usage() {
    echo "usage: stack.sh deps|up|down [--discard]|pg-start|pg-stop|db-setup|createdb NAME|migrate|etl|fixture-start|fixture-stop|api-start|api-stop|nginx-start|nginx-stop|tls|keys|keys-admin ARGS|psql-admin ARGS|schema-dump [DB]|standbys-start|standbys-stop|standby start|pid K|pg-status|bench-site-start DIR PORT|bench-site-stop DIR|env|info" >&2
    exit 2
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
    deps) cmd_deps ;;
    up) cmd_up ;;
    down) cmd_down "$@" ;;
    pg-start) cmd_pg_start ;;
    pg-stop) cmd_pg_stop ;;
    db-setup) cmd_db_setup ;;
    createdb) cmd_createdb "$1" ;;
    migrate) cmd_migrate ;;
    etl) cmd_etl "$@" ;;
    fixture-start) cmd_fixture_start ;;
    fixture-stop) cmd_fixture_stop ;;
    api-start) cmd_api_start ;;
    api-stop) cmd_api_stop ;;
    nginx-start) cmd_nginx_start ;;
    nginx-stop) cmd_nginx_stop ;;
    tls) cmd_tls ;;
    keys) cmd_keys ;;
    keys-admin) cmd_keys_admin "$@" ;;
    psql-admin) psql_admin -d "$DB_NAME" "$@" ;;
    schema-dump) as_pg pg_dump --schema-only -h "$PG_DIR/sock" -p "$PG_PORT" -U "$(pg_super)" "${1:-$DB_NAME}" ;;
    standbys-start) cmd_standbys_start ;;
    standbys-stop) cmd_standbys_stop ;;
    standby) cmd_standby_signal "$@" ;;
    pg-status) cmd_pg_status ;;
    bench-site-start) cmd_bench_site_start "$1" "$2" ;;
    bench-site-stop) cmd_bench_site_stop "$1" ;;
    env) cmd_env ;;
    info) cmd_info ;;
    *) usage ;;
esac
