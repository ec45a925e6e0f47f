#!/usr/bin/env python3
"""`make bench-vacuum`: is the newest data all-visible with autovacuum alone? (SYNTHETIC rows only,
in a stack and database of their own.)

The shape of the default schedule: a CoinPaprika run (3,800 records) and a CoinGecko run (500)
every 15 minutes, 412,800 rows a day, into one monthly partition that already holds DAYS days
(vacuumed once, as autovacuum would have done by then). Then a simulated day of 96 runs, one
transaction each, STEP seconds apart, with autovacuum at its defaults (no manual VACUUM) — first
on migration 17's partition settings (PostgreSQL's: vacuum after 1,000 rows plus 20% of the
table), then, after migration 18, a second day on its settings (every 10,000 rows). After each day
and a wait of WAIT seconds (autovacuum_naptime is 60 s), it prints the heap fetches of the index-only
count of that day, the API's edge count of a recent range, and when autovacuum last ran.
Usage: DAYS=7 STEP=2 WAIT=75 bench_vacuum.py; KEEP=1 leaves the stack running."""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kasparro_tooling import STACK, new_stack_env  # noqa: E402

DAYS = int(os.environ.get("DAYS", "7"))
STEP = float(os.environ.get("STEP", "2"))
WAIT = int(os.environ.get("WAIT", "75"))
PER_RUN = (("coinpaprika", 3800), ("coingecko", 500))
MONTH = "2026-11-01"  # a monthly partition: the current year's months are never yearly


def insert_run(psql, at: str) -> None:
    """One 15-minute snapshot of both APIs at `at` (SYNTHETIC: ids, names and prices made up)."""
    psql(" ".join(f"""
        INSERT INTO market_records (observed_at, asset_id, run_id, source, source_id, symbol, name, price_usd)
        SELECT timestamptz '{at}', k, 1, '{source}', '{source}-synthetic-' || k, 'SYN' || k, 'Synthetic ' || k, k
        FROM generate_series(1, {n}) k;""" for source, n in PER_RUN))


def heap_fetches(psql, since: str, until: str) -> "tuple[int, float]":
    plan = psql(f"""EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT count(*) FROM market_records
                    WHERE observed_at >= '{since}' AND observed_at < '{until}'""")
    fetches = sum(int(n) for n in re.findall(r"Heap Fetches: (\d+)", plan))
    ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
    return fetches, ms


def simulate_day(psql, day: int, label: str) -> None:
    started = time.monotonic()
    for run in range(96):
        insert_run(psql, f"2026-11-{day:02d} {run // 4:02d}:{run % 4 * 15:02d}:00+00")
        time.sleep(max(0.0, started + (run + 1) * STEP - time.monotonic()))
    time.sleep(WAIT)
    since, until = f"2026-11-{day:02d}", f"2026-11-{day + 1:02d}"
    fetches, ms = heap_fetches(psql, since, until)
    edge, edge_ms = heap_fetches(psql, f"2026-11-{day:02d} 18:07:00+00", f"2026-11-{day + 1:02d}")
    partition = "market_records_m202611"
    vacuums, last = psql(f"SELECT autovacuum_count, coalesce(to_char(last_autovacuum, 'HH24:MI:SS'), 'never') "
                         f"FROM pg_stat_user_tables WHERE relname = '{partition}'").split("|")
    print(f"{label:<44} day's count: {fetches:>7,} heap fetches of 412,800 rows ({ms:6.1f} ms); "
          f"last 6 h edge count: {edge:>7,} ({edge_ms:5.1f} ms); autovacuums of the partition {vacuums}, last {last}",
          flush=True)


def main() -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="kasparro-bench-vacuum-"))
    os.chmod(run_dir, 0o755)
    env = new_stack_env(run_dir, LOG_LEVEL="warning")
    sh = lambda *args: subprocess.run([str(STACK), *args], env=env, check=True, capture_output=True, text=True)
    try:
        for step in ("pg-start", "db-setup"):
            sh(step)
        settings = dict(l.split("=", 1) for l in sh("env").stdout.splitlines() if "=" in l)
        etl = [str(settings.get("BIN_DIR", Path(__file__).resolve().parents[1] / ".build" / "release")) + "/kasparro-etl"]
        etl_env = {**env, "DATABASE_URL": settings["ETL_DATABASE_URL"], "PGPASSFILE": settings["PGPASSFILE"]}
        subprocess.run(etl + ["migrate", "--to", "17"], env=etl_env, check=True, capture_output=True)
        psql = lambda sql: subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", settings["ETL_DATABASE_URL"], "-c", sql],
                                          check=True, capture_output=True, text=True,
                                          env={**env, "PGPASSFILE": settings["PGPASSFILE"]}).stdout.strip()
        psql(f"SELECT kasparro_ensure_partition('market_records', 'market_records', '{MONTH}', NULL)")
        started = time.monotonic()
        for day in range(1, DAYS + 1):
            psql(f"""INSERT INTO market_records (observed_at, asset_id, run_id, source, source_id, symbol, name, price_usd)
                     SELECT timestamptz '2026-11-{day:02d}' + r * interval '15 minutes', k, 1, s, s || '-synthetic-' || k,
                            'SYN' || k, 'Synthetic ' || k, k
                     FROM generate_series(0, 95) r, (VALUES ('coinpaprika', 3800), ('coingecko', 500)) v(s, n),
                          LATERAL generate_series(1, n) k""")
        psql("VACUUM ANALYZE market_records_m202611")
        print(f"SYNTHETIC: {DAYS} days of 15-minute snapshots ({DAYS * 412800:,} rows) in market_records_m202611, "
              f"vacuumed once, in {time.monotonic() - started:.0f} s; then days of 96 runs {STEP:g} s apart, "
              f"autovacuum alone, measured {WAIT} s after each day's last run", flush=True)
        simulate_day(psql, DAYS + 1, "migration 17 (1,000 rows + 20% of the table)")
        subprocess.run(etl + ["migrate"], env=etl_env, check=True, capture_output=True)
        simulate_day(psql, DAYS + 2, "migration 18 (every 10,000 rows)")
    finally:
        if os.environ.get("KEEP"):
            print(f"stack kept: RUN_DIR={run_dir} scripts/stack.sh down")
        else:
            subprocess.run([str(STACK), "down", "--discard"], env=env, capture_output=True)
            subprocess.run(["rm", "-rf", str(run_dir)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
