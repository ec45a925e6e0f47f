#!/usr/bin/env python3
"""`make smoke`: checks the system `make up` started, one PASS/FAIL line per check:
ETL ingestion, every endpoint, ETL recovery after a mid-run kill -9, and rate limiting."""
import concurrent.futures
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack.sh"
ENV = dict(l.split("=", 1) for l in subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True).stdout.splitlines() if "=" in l)
BASE = f"https://localhost:{ENV['HTTPS_PORT']}"
TLS = ssl.create_default_context(cafile=str(Path(ENV["NGINX_DIR"]) / "tls.crt"))
KEY = (Path(ENV["RUN_DIR"]) / "api-key").read_text().strip()
BENCH = (Path(ENV["RUN_DIR"]) / "bench-api-key").read_text().strip()
results = []


def get(path, key=BENCH):
    request = urllib.request.Request(BASE + path, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, context=TLS, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def check(name, fn):
    try:
        detail = fn()
        results.append(True)
        print(f"PASS  {name}" + (f" — {detail}" if detail else ""))
    except Exception as e:  # a failed check is reported, the others still run
        results.append(False)
        print(f"FAIL  {name} — {e}")


def ingestion():
    status, _, body = get("/stats")
    stats = json.loads(body)
    assert status == 200 and stats["records_total"] > 0, stats
    csv = stats["sources"]["csv"]
    assert csv["records"] > 0 and csv["runs"] > 0, csv
    return f"{stats['records_total']} records; per source " + ", ".join(f"{k}={v['records']}" for k, v in stats["sources"].items())


def endpoints():
    seen = []
    for path, key, want in [("/health", None, 200), ("/openapi.json", None, 200), ("/data?page_size=5", BENCH, 200),
                            ("/stats", BENCH, 200), ("/runs?limit=3", BENCH, 200), ("/compare-runs", BENCH, 200),
                            ("/data", None, 401), ("/data?page_size=0", BENCH, 400), ("/nope", BENCH, 404)]:
        status, headers, body = get(path, key)
        assert status == want, f"{path}: {status} {body[:200]!r}"
        assert "json" in headers.get("Content-Type", ""), path
        json.loads(body)
        seen.append(f"{path.split('?')[0]} {status}")
    return ", ".join(seen)


def etl(database, *args, wait=True, extra=None):
    env = {**os.environ, "PGPASSFILE": ENV["PGPASSFILE"], "CSV_SOURCE_DIR": ENV["CSV_SOURCE_DIR"], "LOG_LEVEL": "warning",
           "DATABASE_URL": ENV["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/" + database, **(extra or {})}
    command = [str(Path(ENV["BIN_DIR"]) / "kasparro-etl"), *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, env=env, capture_output=True, text=True)


def psql(database, sql):
    url = ENV["ETL_DATABASE_URL"].rsplit("/", 1)[0] + "/" + database
    return subprocess.run(["psql", "-X", "-At", url, "-c", sql], env={**os.environ, "PGPASSFILE": ENV["PGPASSFILE"]},
                          capture_output=True, text=True, check=True).stdout.strip()


def recovery():
    digest = ("SELECT count(*) || ' ' || md5(string_agg(source || source_id || observed_at || price_usd, ',' "
              "ORDER BY source, source_id, observed_at)) FROM market_records")
    for db in ("kasparro_smoke_ref", "kasparro_smoke_kill"):
        subprocess.run([str(STACK), "createdb", db], check=True, capture_output=True)
        etl(db, "migrate")
    etl("kasparro_smoke_ref", "run", "--source", "csv")
    process = etl("kasparro_smoke_kill", "run", "--source", "csv", wait=False, extra={"ETL_BATCH_SIZE": "200"})
    deadline = time.time() + 30
    while int(psql("kasparro_smoke_kill", "SELECT count(*) FROM market_records")) < 5000 and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = psql("kasparro_smoke_kill", "SELECT count(*) FROM market_records")
    etl("kasparro_smoke_kill", "run", "--source", "csv")
    ref, got = psql("kasparro_smoke_ref", digest), psql("kasparro_smoke_kill", digest)
    duplicates = psql("kasparro_smoke_kill", "SELECT count(*) - count(DISTINCT (source, source_id, observed_at)) FROM market_records")
    assert ref == got and duplicates == "0", (ref, got, duplicates)
    return f"killed at {at_kill} rows; after restart {got.split()[0]} rows, same digest as an uninterrupted run, 0 duplicates"


def rate_limit():
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: get("/data?page_size=1", KEY), range(120)))
    limited = [a for a in answers if a[0] == 429]
    assert limited, "no 429 in a burst of 120"
    assert all(a[1].get("Retry-After") and json.loads(a[2])["error"]["code"] == "rate_limited" for a in limited)
    time.sleep(2.5)
    assert get("/data?page_size=1", KEY)[0] == 200, "not served again after the wait"
    return f"{len(limited)} of 120 burst requests got JSON 429 with Retry-After; served again after 2.5 s"


check("ETL ingestion", ingestion)
check("every endpoint answers JSON with the right status", endpoints)
check("ETL recovery after kill -9 mid-run", recovery)
check("rate limiting", rate_limit)
for db in ("kasparro_smoke_ref", "kasparro_smoke_kill"):
    subprocess.run([str(STACK), "createdb", db], capture_output=True)
print(f"smoke: {results.count(True)} passed, {results.count(False)} failed")
sys.exit(0 if all(results) else 1)
