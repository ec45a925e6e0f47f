#!/usr/bin/env python3
"""`make bench-scale` (ROWS=3000000): a synthetic history of ROWS CSV rows in each of two shapes,
shaped like the real samples (same columns, similar widths; labelled SYNTHETIC in every name),
loaded through the ETL's own write path into a stack of its own per shape (own run directory,
PostgreSQL cluster and ports: nothing lands in what `make up` serves) at the product's defaults
(its batch size, autovacuum alone: no manual VACUUM or ANALYZE on the data path), then the API
measured through nginx at that size. Beside each load, PostgreSQL's own COPY of the same rows into
a table with the same partitions and indexes and no trigger: the ceiling of any loader.

Shapes (SHAPE=snapshots,backfill, the default, runs both and prints them side by side):
  snapshots  the steady state: 4,300 coins, a row each every 15 minutes (3 M rows: a week)
  backfill   the real CSV archive's shape: daily histories of 3,000 coins (3 M rows: 1,000 days
             each, 2.7 years)
MONTHS=13 spreads each coin's rows over the 13 months before END instead (its step follows:
ROWS=30000000 MONTHS=13 SHAPE=snapshots is a year's count in 13 monthly partitions).
Prints one line per case, then the summary. KEEP=1 leaves the stacks running (stop: RUN_DIR=...
scripts/stack.sh down)."""
import base64
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import urllib3

import bench
from kasparro_tooling import new_stack_env, random_filters, stack_env

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack.sh"
ROWS = int(os.environ.get("ROWS", "3000000"))
# The product grows in time, not in coins: every 15 minutes a snapshot of about 4,300 coins (3,800
# CoinPaprika tickers, 500 CoinGecko markets): the snapshot shape. The CSV archive is daily
# histories of thousands of coins over years: the backfill shape. Both end at END.
SHAPES = {"snapshots": {"coins": 4300, "step_minutes": 15}, "backfill": {"coins": 3000, "step_minutes": 1440}}
END = datetime.datetime.fromisoformat(os.environ.get("END", "2026-11-01T00:00"))
MONTHS = int(os.environ.get("MONTHS", "0"))
PROBES = int(os.environ.get("PROBES", "40"))


def write_history(directory: Path, rows: int, coins: int, step: datetime.timedelta) -> "tuple[int, datetime.datetime]":
    """One file per synthetic coin, a row every `step` up to END, the sample files' columns and value
    widths: names of 11 characters ("Synth 00042", the samples' run from 3 to 12) and 6-letter
    tickers (3 to 4). Returns the rows written and the first instant."""
    rng = random.Random(42)
    coins = max(1, min(coins, rows))
    per_coin, extra = divmod(rows, coins)  # the first `extra` coins have one row more
    first = END - step * (per_coin + (1 if extra else 0))
    written = 0
    for coin in range(coins):
        n = per_coin + (1 if coin < extra else 0)
        price = 10 ** rng.uniform(-4, 4)
        supply = 10 ** rng.uniform(6, 11)
        lines = ["SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap"]
        for i in range(n):
            price *= 1 + rng.gauss(0, 0.04)
            high, low = price * (1 + rng.random() * 0.05), price * (1 - rng.random() * 0.05)
            at = END - step * (n - i)
            lines.append(f"{i + 1},Synth {coin:05d},S{coin:05d},{at:%d-%m-%Y %H:%M},{high:.10g},{low:.10g},"
                         f"{price * (1 + rng.gauss(0, 0.01)):.10g},{price:.10g},{price * supply * rng.uniform(0.01, 0.2):.10g},"
                         f"{price * supply:.10g}")
        (directory / f"coin_Synthetic{coin:05d}.csv").write_text("\r\n".join(lines) + "\r\n")
        written += n
    return written, first


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def changed_snapshot(source: str, rng: random.Random, at: datetime.datetime) -> "list[bytes]":
    """SYNTHETIC: the recorded payloads of `source` with every price, size and timestamp changed
    (so neither the snapshot nor any record matches an earlier one), compact JSON as the APIs send."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def vary(value):
        """Another value with as many significant digits as the recorded one (integers stay integers)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value:
            return value
        changed = value * rng.uniform(0.97, 1.03)
        if isinstance(value, int):
            return int(round(changed))
        digits = len(re.sub(r"e.*$", "", repr(abs(value))).replace(".", "").lstrip("0")) or 1
        return float(f"{changed:.{digits}g}")

    if source == "coinpaprika":
        rows = json.loads((SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json").read_text())
        for row in rows:
            row["last_updated"] = stamp
            for quote in row.get("quotes", {}).values():
                for field in list(quote):
                    quote[field] = stamp if field.endswith("_date") and quote[field] else vary(quote[field])
        return [json.dumps(rows, separators=(",", ":")).encode()]
    pages = []
    for name in ("markets_page1_per250_2025-02-09.json", "markets_page1_per250_2022-02-23.json"):
        rows = json.loads((SAMPLES / "coingecko" / name).read_text())
        for row in rows:
            row["last_updated"] = stamp.replace("Z", ".000Z")
            for field in ("current_price", "market_cap", "total_volume", "high_24h", "low_24h", "price_change_24h",
                          "market_cap_change_24h", "fully_diluted_valuation"):
                row[field] = vary(row.get(field))
        pages.append(json.dumps(rows, separators=(",", ":")).encode())
    return pages


def api_snapshots(env: dict, settings: dict, psql, sh) -> None:
    """Steady-state API snapshots (SYNTHETIC prices from the real payloads) into the loaded database
    and into an empty one of their own: commit time, and raw payload bytes per record."""
    sh("fixture-start")
    fixture = f"http://127.0.0.1:{(Path(env['RUN_DIR']) / 'fixture.port').read_text().strip()}"
    sh("createdb", "bench_empty")
    empty_url = settings["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/bench_empty"
    etl_env = {**env, "PGPASSFILE": settings["PGPASSFILE"], "ETL_TRIGGER": "bench",
               "COINPAPRIKA_BASE_URL": fixture + "/paprika/v1", "COINGECKO_BASE_URL": fixture + "/gecko/api/v3",
               "COINGECKO_REQUESTS_PER_MINUTE": "6000", "LOG_LEVEL": "warning",
               # The fixture answers the scripted snapshots in order; the daily coin lists are not what is measured.
               "COIN_LISTS": "off"}
    binary = str(ROOT / ".build" / "release" / "kasparro-etl")
    subprocess.run([binary, "migrate"], env={**etl_env, "DATABASE_URL": empty_url}, check=True, capture_output=True)
    raw_size = lambda url: int(subprocess.run(
        ["psql", "-X", "-At", url, "-c", "SELECT coalesce(sum(pg_total_relation_size(partition::regclass)), 0) "
                                         "FROM kasparro_partitions('raw_api_pages')"],
        env=etl_env, check=True, capture_output=True, text=True).stdout)
    rng = random.Random(11)
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=5)
    for source, records in (("coinpaprika", 3795), ("coingecko", 500)):
        timings = {"loaded": [], "empty": []}
        grown = 0
        db_before = int(psql("SELECT pg_database_size(current_database())"))
        stored = int(psql(f"SELECT count(*) FROM market_records WHERE source = '{source}'"))
        for k in range(8):
            for target, url in (("loaded", settings["ETL_DATABASE_URL"]), ("empty", empty_url)):
                pages = changed_snapshot(source, rng, base + datetime.timedelta(minutes=15 * (k + 1)))
                steps = [{"status": 200, "body": page.decode()} for page in pages]
                requests.post(fixture + "/__reset", timeout=10)
                requests.post(fixture + "/__script", json=steps, timeout=60)
                before = raw_size(url)
                started = time.monotonic()
                out = subprocess.run([binary, "run", "--source", source], env={**etl_env, "DATABASE_URL": url},
                                     check=True, capture_output=True, text=True).stdout
                seconds = time.monotonic() - started
                assert f"inserted {records}" in out or source == "coingecko", out
                if k > 0:  # the first snapshot of a source also creates its assets
                    timings[target].append(seconds)
                if target == "loaded":
                    grown += raw_size(url) - before
        loaded, empty = statistics.median(timings["loaded"]), statistics.median(timings["empty"])
        rows = int(psql(f"SELECT count(*) FROM market_records WHERE source = '{source}'")) - stored
        growth = int(psql("SELECT pg_database_size(current_database())")) - db_before
        print(f"{source + ' snapshot (' + str(records) + ' records, SYNTHETIC prices) commit':<58} "
              f"loaded db {loaded:.2f} s, empty db {empty:.2f} s = {loaded / empty:.2f}x; raw payload "
              f"{grown / (8 * records):.0f} bytes/record; database growth {growth / rows:.0f} bytes/market row "
              f"(rows, indexes, rollups, raw)", flush=True)


SAMPLES = ROOT.parent / "shared" / "samples"
MIGRATE_ROWS = int(os.environ.get("MIGRATE_ROWS", "1000000"))


def migrate_in_place(env: dict, settings: dict, sh) -> None:
    """Migration 5 on a database of its own filled by the previous schema (version 4) with
    MIGRATE_ROWS SYNTHETIC records: how long it takes and how much disk and WAL it needs."""
    sh("createdb", "bench_v4")
    url = settings["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/bench_v4"
    etl_env = {**env, "PGPASSFILE": settings["PGPASSFILE"], "DATABASE_URL": url, "LOG_LEVEL": "warning"}
    binary = str(ROOT / ".build" / "release" / "kasparro-etl")
    run_sql = lambda sql: subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql], env=etl_env,
                                         check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([binary, "migrate", "--to", "4"], env=etl_env, check=True, capture_output=True)
    coins = 1000
    days = max(1, MIGRATE_ROWS // coins)
    run_sql(f"""
        INSERT INTO etl_runs (invocation_id, source, trigger, status) VALUES (gen_random_uuid(), 'csv', 'bench', 'succeeded');
        INSERT INTO assets (symbol, name) SELECT 'SYN' || i, 'Synthetic Coin ' || i FROM generate_series(1, {coins}) i;
        INSERT INTO asset_sources (source, source_id, asset_id, symbol, name, match_method, match_confidence)
        SELECT 'csv', 'synthetic-coin-' || asset_id, asset_id, symbol, name, 'new', 1 FROM assets;
        INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, price_usd, market_cap_usd,
                                    volume_24h_usd, run_id)
        SELECT 'csv', 'synthetic-coin-' || c, timestamptz '2013-01-01 23:59+00' + d * interval '1 day', c, 'SYN' || c,
               'Synthetic Coin ' || c, round((random() * 1000)::numeric, 10), round((random() * 1e10)::numeric, 2),
               round((random() * 1e8)::numeric, 2), 1
        FROM generate_series(1, {coins}) c, generate_series(0, {days - 1}) d""")
    run_sql("VACUUM ANALYZE")
    rows = int(run_sql("SELECT count(*) FROM market_records"))
    size = int(run_sql("SELECT pg_database_size(current_database())"))
    lsn = run_sql("SELECT pg_current_wal_lsn()")
    started = time.monotonic()
    subprocess.run([binary, "migrate", "--to", "5"], env=etl_env, check=True, capture_output=True)
    seconds = time.monotonic() - started
    wal = int(float(run_sql(f"SELECT pg_current_wal_lsn() - '{lsn}'::pg_lsn")))
    after = int(run_sql("SELECT pg_database_size(current_database())"))
    million = rows / 1e6
    print(f"{'migration 5 in place (a version-4 database, SYNTHETIC rows)':<58} {rows:,} rows in {seconds:.1f} s "
          f"= {seconds / million:.1f} s per million; database {size / 1e6 / million:.0f} -> {after / 1e6 / million:.0f} MB "
          f"per million rows, WAL {wal / 1e6 / million:.0f} MB per million (the old table stays until the commit: "
          f"peak ≈ before + after)", flush=True)
    # The later migrations on the same rows (15 and 16 read every row: the symbol check and index).
    run_sql("VACUUM ANALYZE")
    lsn = run_sql("SELECT pg_current_wal_lsn()")
    started = time.monotonic()
    subprocess.run([binary, "migrate"], env=etl_env, check=True, capture_output=True)
    seconds = time.monotonic() - started
    wal = int(float(run_sql(f"SELECT pg_current_wal_lsn() - '{lsn}'::pg_lsn")))
    latest = run_sql("SELECT max(version) FROM schema_migrations")
    print(f"{f'migrations 6..{latest} on the same rows':<58} {rows:,} rows in {seconds:.1f} s = {seconds / million:.1f} s "
          f"per million; WAL {wal / 1e6 / million:.0f} MB per million", flush=True)


def copy_ceiling(psql, sh_psql, run_dir: Path) -> "tuple[int, float]":
    """PostgreSQL's own COPY of the loaded rows (exported in the files' order, coin by coin) into
    a table with market_records' partitions, columns, constraints and indexes and no trigger, in
    one statement: (rows, seconds). The table and the export are removed afterwards."""
    export = run_dir / "ceiling.copy"
    columns = "observed_at, asset_id, run_id, ingested_at, rank, source, source_id, symbol, name, price_usd, market_cap_usd, volume_24h_usd"
    sh_psql(f"\\copy (SELECT {columns} FROM market_records ORDER BY source_id, observed_at) TO '{export}'")
    psql("""
        CREATE TABLE bench_copy_ceiling (LIKE market_records INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)
            PARTITION BY RANGE (observed_at);
        DO $$ DECLARE p record; BEGIN
          FOR p IN SELECT row_number() OVER () AS n, lo, hi FROM kasparro_partitions('market_records') LOOP
            EXECUTE format('CREATE TABLE bench_copy_ceiling_%s PARTITION OF bench_copy_ceiling FOR VALUES FROM (%L) TO (%L)',
                           p.n, p.lo, p.hi);
          END LOOP;
        END $$""")
    started = time.monotonic()
    out = sh_psql(f"\\copy bench_copy_ceiling ({columns}) FROM '{export}'")
    seconds = time.monotonic() - started
    rows = int(re.search(r"COPY (\d+)", out).group(1))
    psql("DROP TABLE bench_copy_ceiling")
    export.unlink()
    return rows, seconds


def measure(shape: str, first_shape: bool) -> dict:
    """One shape in a stack of its own: load, ceiling, probes, 32 connections; with `first_shape`
    also the cases that do not depend on the shape (cached path, API snapshots, migrations)."""
    coins = SHAPES[shape]["coins"]
    step = datetime.timedelta(minutes=SHAPES[shape]["step_minutes"])
    if MONTHS:  # the rows of a coin spread over the MONTHS calendar months before END
        year, month = divmod(END.year * 12 + END.month - 1 - MONTHS, 12)
        span = END - END.replace(year=year, month=month + 1)
        step = datetime.timedelta(seconds=int(span.total_seconds() / -(-ROWS // coins)))  # whole seconds: no row before the span
    result = {}
    run_dir = Path(tempfile.mkdtemp(prefix=f"kasparro-bench-scale-{shape}-"))
    os.chmod(run_dir, 0o755)
    csv_dir = run_dir / "csv-synthetic"
    csv_dir.mkdir()
    env = new_stack_env(run_dir, CSV_SOURCE_DIR=str(csv_dir), RESPONDERS="2", LOG_LEVEL="warning",
                        RATE_STANDARD="100000r/s", BURST_STANDARD="100000")
    sh = lambda *args: subprocess.run([str(STACK), *args], env=env, check=True, capture_output=True, text=True)
    say = lambda case, text: print(f"[{shape}] {case:<58} {text}", flush=True)
    try:
        started = time.monotonic()
        written, first = write_history(csv_dir, ROWS, coins, step)
        say("synthetic CSV history", f"{written:,} rows in {len(list(csv_dir.glob('*.csv')))} files "
            f"({sum(p.stat().st_size for p in csv_dir.glob('*.csv')) / 1e6:.0f} MB), a row every "
            f"{step.total_seconds() / 60:g} minutes per coin "
            f"from {first:%Y-%m-%d %H:%M}, written in {time.monotonic() - started:.0f} s")
        for step_name in ("pg-start", "db-setup", "migrate"):
            sh(step_name)
        settings = dict(l.split("=", 1) for l in sh("env").stdout.splitlines() if "=" in l)
        psql_env = {**env, "PGPASSFILE": settings["PGPASSFILE"]}
        sh_psql = lambda command: subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", settings["ETL_DATABASE_URL"],
                                                  "-c", command], check=True, capture_output=True, text=True,
                                                 env=psql_env).stdout
        psql = lambda sql: subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", settings["ETL_DATABASE_URL"],
                                           "-c", sql], check=True, capture_output=True, text=True, env=psql_env).stdout.strip()
        size_before = int(psql("SELECT pg_database_size(current_database())"))
        started = time.monotonic()
        # The product's defaults: its batch size (unless ETL_BATCH_SIZE is set), autovacuum alone.
        run = subprocess.run([str(STACK), "etl", "--source", "csv"], env={**env, **({"ETL_BATCH_SIZE": os.environ["ETL_BATCH_SIZE"]}
                                                                                     if "ETL_BATCH_SIZE" in os.environ else {})},
                             check=True, capture_output=True, text=True)
        whole = time.monotonic() - started
        # The load is the source's own time (its summary line); the run then vacuums the closed
        # partitions the load filled (ClosedPartitions), reported beside it.
        seconds = float(re.search(r"^csv: succeeded .* in ([\d.]+) s", run.stdout, re.M).group(1))
        loaded = int(psql("SELECT count(*) FROM market_records"))
        growth = int(psql("SELECT pg_database_size(current_database())")) - size_before
        partitions = int(psql("SELECT count(*) FROM kasparro_partitions('market_records')"))
        result.update(load=loaded / seconds, bytes_per_row=growth / loaded, partitions=partitions)
        say("CSV load through the ETL (kasparro-etl run --source csv)", f"{loaded:,} rows in {seconds:.0f} s = "
            f"{loaded / seconds:,.0f} rows/s; database growth {growth / loaded:.0f} bytes/row; {partitions} partitions; "
            f"the whole run, with the vacuum of the closed partitions after the load, {whole:.0f} s")
        vacuums = psql("SELECT sum(autovacuum_count) || ' autovacuums, ' || sum(autoanalyze_count) || ' autoanalyzes' "
                       "FROM pg_stat_user_tables WHERE relname LIKE 'market\\_records\\_%'")
        say("  (no manual VACUUM: autovacuum alone, so far)", f"{vacuums} of the market partitions")
        rows, copy_seconds = copy_ceiling(psql, sh_psql, run_dir)
        result.update(ceiling=rows / copy_seconds)
        say("  ceiling: COPY of the same rows, same indexes, no trigger", f"{rows:,} rows in {copy_seconds:.0f} s = "
            f"{rows / copy_seconds:,.0f} rows/s: the ETL loads at {result['load'] / result['ceiling']:.0%} of it")
        if shape == "snapshots":
            # The run history the same span of the steady state leaves behind: a CoinPaprika and a
            # CoinGecko run every step, one in a hundred failed (SYNTHETIC rows, trigger 'bench-synthetic').
            runs = psql(f"""
                WITH t AS (SELECT timestamptz '{first:%Y-%m-%d %H:%M}+00' + k * interval '{step.total_seconds():.0f} seconds' AS at, k
                           FROM generate_series(0, {int((END - first) / step) - 1}) k),
                ins AS (INSERT INTO etl_runs (invocation_id, source, trigger, status, started_at, finished_at, fetched, inserted, error)
                        SELECT gen_random_uuid(), src, 'bench-synthetic', CASE WHEN k % 100 = 99 THEN 'failed' ELSE 'succeeded' END,
                               at, at + interval '2 seconds', n, n, CASE WHEN k % 100 = 99 THEN 'SYNTHETIC failure' END
                        FROM t, (VALUES ('coinpaprika', 3800), ('coingecko', 500)) v(src, n) ORDER BY at, src RETURNING 1)
                SELECT count(*) FROM ins""")
            say("synthetic run history", f"{int(runs):,} runs (SYNTHETIC, trigger 'bench-synthetic'), two every "
                f"{step.total_seconds() / 60:.0f} minutes from {first:%Y-%m-%d %H:%M} to {END:%Y-%m-%d %H:%M}")

        for step_name in ("api-start", "tls", "keys", "nginx-start"):
            sh(step_name)
        base = f"https://localhost:{env['HTTPS_PORT']}"
        key = (run_dir / "bench-api-key").read_text().strip()
        http = requests.Session()
        http.headers["x-api-key"] = key

        def timed(path, params):
            t = time.perf_counter()
            r = http.get(base + path, params=params, verify=False, timeout=30)
            ms = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, (path, params, r.status_code, r.text[:200])
            return ms, r.json()

        rng = random.Random(7)
        symbols = [f"s{c:05d}" for c in range(min(coins, ROWS))]
        assets = [int(a) for a in psql("SELECT DISTINCT asset_id FROM market_records").split()]
        filters = random_filters(rng, PROBES, symbols=symbols, assets=assets,
                                 low=first.replace(tzinfo=datetime.timezone.utc), high=END.replace(tzinfo=datetime.timezone.utc))

        cases = {"uncached /data, random filter combinations, exact totals": [],
                 "uncached /data, numbered pages 1..1000 (page_size=50)": [],
                 "uncached /data, cursor pages at random depths": []}
        for filters_of_probe in filters:
            params = {"page_size": rng.choice([10, 20, 50, 100]), **filters_of_probe}
            cases["uncached /data, random filter combinations, exact totals"].append(timed("/data", params)[0])
            cases["uncached /data, numbered pages 1..1000 (page_size=50)"].append(
                timed("/data", {"page": rng.randint(1, 1000), "page_size": 50})[0])
            row = psql(f"SELECT (extract(epoch FROM observed_at) * 1000000)::bigint, source, source_id FROM market_records "
                       f"ORDER BY observed_at DESC, source, source_id OFFSET {rng.randint(0, loaded - 1)} LIMIT 1").split("|")
            cursor = base64.urlsafe_b64encode(f"v1|{row[0]}|{row[1]}|{row[2]}".encode()).decode().rstrip("=")
            cases["uncached /data, cursor pages at random depths"].append(
                timed("/data", {"cursor": cursor, "page_size": rng.choice([25, 50])})[0])
        cases["/stats"] = [timed("/stats", {})[0] for _ in range(10)]
        for case, samples in cases.items():
            say(case, summary(samples))
            result[case] = (statistics.median(samples), max(samples))

        # 32 connections (wrk) on the first page, without and then across an ETL run that commits rows.
        def wrk(seconds: int, during=None) -> dict:
            command = ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "--latency", "-H", f"x-api-key: {key}",
                       base + "/data?page_size=50"]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            if during:
                time.sleep(2)
                during()
            out = process.communicate(timeout=seconds + 30)[0]
            def latency(label):
                found = re.search(rf"^\s+{label}\s+([0-9.]+)(us|ms|s)$", out, re.M)
                value = float(found.group(1))
                return value / 1000 if found.group(2) == "us" else value * 1000 if found.group(2) == "s" else value
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            errors = re.search(r"Socket errors: (.*)$", out, re.M)
            return {"rate": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)), "p50": latency("50%"),
                    "p99": latency("99%"), "errors": (int(non2xx.group(1)) if non2xx else 0), "socket": errors.group(1) if errors else ""}

        def wrk_text(w: dict) -> str:
            return (f"{w['rate']:8,.0f} req/s   p50 {w['p50']:7.1f} ms   p99 {w['p99']:7.1f} ms   "
                    f"errors {w['errors']}{' ' + w['socket'] if w['socket'] else ''}")

        wrk(2)  # warm-up: connections, TLS sessions, the first page cached in every responder
        quiet = wrk(6)
        say("32 connections (wrk) on /data, no ETL run", wrk_text(quiet))
        if first_shape:
            # The cached path at this size, against the same two ceilings as `make bench`.
            bench.throughput(stack_env(env))
        last_sno = -(-ROWS // min(coins, ROWS))  # coin 0's rows
        with open(csv_dir / "coin_Synthetic00000.csv", "a") as f:
            for i in range(200):
                f.write(f"{last_sno + i + 1},Synth 00000,S00000,{END + step * i:%d-%m-%Y %H:%M},1,1,1,1,1,1\r\n")
        commit = {}

        def etl_commit():
            started = time.monotonic()
            subprocess.run([str(STACK), "etl", "--source", "csv"], env=env, check=True, capture_output=True)
            commit["seconds"] = time.monotonic() - started

        across = wrk(8, during=etl_commit)
        say("32 connections (wrk) on /data across an ETL commit", f"{wrk_text(across)}   (the ETL run took {commit['seconds']:.2f} s)")
        result.update(quiet=quiet, across=across)
        if first_shape:
            api_snapshots(env, settings, psql, sh)
            migrate_in_place(env, settings, sh)
    finally:
        if os.environ.get("KEEP"):
            print(f"stack kept: RUN_DIR={run_dir} scripts/stack.sh down")
        else:
            subprocess.run([str(STACK), "down", "--discard"], env=env, capture_output=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    return result


def summary(samples_ms: list) -> str:
    return (f"n={len(samples_ms):<4} p50 {statistics.median(samples_ms):7.1f} ms   p99 {percentile(samples_ms, 99):7.1f} ms   "
            f"max {max(samples_ms):7.1f} ms")


def main() -> int:
    shapes = [s for s in os.environ.get("SHAPE", "snapshots,backfill").split(",") if s]
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        sys.exit(f"bench_scale.py: no such SHAPE: {', '.join(sorted(unknown))} (shapes: {', '.join(SHAPES)})")
    print(f"make bench-scale: ROWS={ROWS:,} per shape{f', MONTHS={MONTHS}' if MONTHS else ''}, batch size "
          f"{os.environ.get('ETL_BATCH_SIZE', 'the default')}, autovacuum alone (SYNTHETIC data only)", flush=True)
    results = {shape: measure(shape, i == 0) for i, shape in enumerate(shapes)}
    print(f"\n{'summary (' + f'{ROWS:,}' + ' rows per shape)':<66} " + "".join(f"{s:>16}" for s in shapes))
    rows = [("CSV load, rows/s", lambda r: f"{r['load']:,.0f}"),
            ("COPY ceiling, rows/s", lambda r: f"{r['ceiling']:,.0f}"),
            ("load / ceiling", lambda r: f"{r['load'] / r['ceiling']:.0%}"),
            ("database growth, bytes/row", lambda r: f"{r['bytes_per_row']:.0f}"),
            ("partitions", lambda r: f"{r['partitions']}")]
    for case in ("uncached /data, random filter combinations, exact totals", "uncached /data, numbered pages 1..1000 (page_size=50)",
                 "uncached /data, cursor pages at random depths", "/stats"):
        rows.append((case + ", p50 / max ms", lambda r, c=case: f"{r[c][0]:.1f} / {r[c][1]:.1f}"))
    rows += [("32 connections, no ETL run: p99 ms, errors", lambda r: f"{r['quiet']['p99']:.1f}, {r['quiet']['errors']}"),
             ("32 connections across a commit: p99 ms, errors", lambda r: f"{r['across']['p99']:.1f}, {r['across']['errors']}")]
    for label, value in rows:
        print(f"{label:<66} " + "".join(f"{value(results[s]):>16}" for s in shapes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
