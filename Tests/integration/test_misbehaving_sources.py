"""Sources that misbehave, scripted at the fixture server: retries, Retry-After, rate limits,
timeouts, resets, broken bodies, schema drift and garbage records."""
import datetime
import email.utils
import json
import time

import pytest

from conftest import SAMPLES, fixture_requests, fixture_script
from test_etl_csv import run_row

FAST = {"ETL_HTTP_BACKOFF_MS": "50"}


def paprika(stack, db, steps, env=None, check=False):
    fixture_script(stack, steps)
    result = stack.etl("run", "--source", "coinpaprika", database=db, check=check, env={**FAST, **(env or {})})
    return result, [r for r in fixture_requests(stack) if r["path"].startswith("/paprika/")]


def retries(stack, db):
    return int(stack.psql("SELECT retries FROM etl_runs ORDER BY run_id DESC LIMIT 1", stack.db_url(db))[0][0])


@pytest.fixture
def db(stack):
    return stack.fresh_database()


def test_429_retry_after_seconds_is_honoured(stack, db):
    result, seen = paprika(stack, db, [{"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": "slow down"}}])
    assert result.returncode == 0 and len(seen) == 2
    assert seen[1]["time"] - seen[0]["time"] >= 1.0
    assert retries(stack, db) == 1
    retry_log = [json.loads(l) for l in result.stderr.splitlines() if '"retrying request"' in l]
    assert retry_log[0]["attempt"] == "1" and "HTTP 429" in retry_log[0]["error"] and retry_log[0]["retry_after"] == "true"


def test_429_retry_after_http_date_is_honoured(stack, db):
    when = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3), usegmt=True)
    result, seen = paprika(stack, db, [{"status": 429, "headers": {"Retry-After": when}}])
    assert result.returncode == 0 and len(seen) == 2
    assert seen[1]["time"] - seen[0]["time"] >= 1.5


def test_html_429_without_retry_after_backs_off(stack, db):
    result, seen = paprika(stack, db, [{"status": 429, "content_type": "text/html", "body": "<html><h1>429 Too Many</h1></html>"},
                                       {"status": 429, "content_type": "text/html", "body": "<html>again</html>"}])
    assert result.returncode == 0 and len(seen) == 3
    # Exponential: the second wait is longer than the first's lower bound.
    assert seen[2]["time"] - seen[1]["time"] >= 0.05


def test_5xx_then_success(stack, db):
    result, seen = paprika(stack, db, [{"status": 500, "body": "oops"}, {"status": 502, "body": "bad gateway"},
                                       {"status": 503, "body": "unavailable"}])
    assert result.returncode == 0 and len(seen) == 4
    assert run_row(stack, db)["inserted"] == 3795 and retries(stack, db) == 3


def test_other_4xx_is_not_retried(stack, db):
    result, seen = paprika(stack, db, [{"status": 404, "body": {"error": "not found"}}])
    assert result.returncode == 2 and len(seen) == 1
    assert "HTTP 404" in run_row(stack, db)["error"]


def test_attempts_are_capped(stack, db):
    result, seen = paprika(stack, db, [{"status": 503}] * 5, env={"ETL_HTTP_MAX_ATTEMPTS": "3"})
    assert result.returncode == 2 and len(seen) == 3
    assert "gave up after 3 attempts" in run_row(stack, db)["error"]
    fixture_script(stack, [])


def test_total_time_is_capped(stack, db):
    result, seen = paprika(stack, db, [{"status": 429, "headers": {"Retry-After": "30"}}], env={"ETL_HTTP_MAX_SECONDS": "5"})
    assert result.returncode == 2 and len(seen) == 1
    assert "5 s limit" in run_row(stack, db)["error"]
    fixture_script(stack, [])


def test_slow_response_times_out_and_is_retried(stack, db):
    result, seen = paprika(stack, db, [{"delay": 3}], env={"ETL_HTTP_TIMEOUT": "1"})
    assert result.returncode == 0 and len(seen) == 2
    assert "timed out" in result.stderr


def test_connection_reset_is_retried(stack, db):
    result, seen = paprika(stack, db, [{"reset": True}])
    assert result.returncode == 0 and len(seen) == 2


@pytest.mark.parametrize("step,words", [
    ({"truncate": 5000}, "truncated"),
    ({"status": 200, "body": ""}, "empty body"),
    ({"status": 200, "body": {"tickers": []}}, "expected a JSON array"),
    ({"status": 200, "body": "<html>maintenance</html>"}, "expected a JSON array"),
])
def test_broken_bodies_fail_the_run_cleanly(stack, db, step, words):
    result, _ = paprika(stack, db, [step] * 4)
    assert result.returncode == 2
    run = run_row(stack, db)
    assert run["status"] == "failed" and words in run["error"]
    assert stack.psql("SELECT count(*) FROM etl_checkpoints WHERE source = 'coinpaprika'", stack.db_url(db)) == [["0"]]
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["0"]]
    fixture_script(stack, [])


def test_a_trickle_ends_at_the_time_limit(stack, db):
    started = time.monotonic()
    result, seen = paprika(stack, db, [{"trickle": 30}] * 2, env={"ETL_HTTP_TIMEOUT": "2", "ETL_HTTP_MAX_ATTEMPTS": "2"})
    elapsed = time.monotonic() - started
    assert result.returncode == 2 and len(seen) == 2
    run = run_row(stack, db)
    assert run["status"] == "failed" and "timed out" in run["error"] and "gave up after 2 attempts" in run["error"]
    assert elapsed < 15, elapsed
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["0"]]
    fixture_script(stack, [])


@pytest.mark.parametrize("gzip,words", [(False, "stopped"), (True, "decompressed"), ("empty", "received")])
def test_a_body_that_never_ends_is_cut_at_the_size_limit(stack, db, gzip, words):
    # Unannounced size (no Content-Length): libcurl 7.88's CURLOPT_MAXFILESIZE would not stop it.
    # Plain, gzip of repeated JSON (expands past the limit), gzip of nothing (never expands: the
    # bytes received stop it). Not retried: the next body would be as large.
    started = time.monotonic()
    result, seen = paprika(stack, db, [{"endless": True, "gzip": gzip}] * 2, env={"ETL_HTTP_MAX_BYTES": str(4 << 20)})
    elapsed = time.monotonic() - started
    assert result.returncode == 2 and len(seen) == 1
    run = run_row(stack, db)
    assert run["status"] == "failed" and "response too large" in run["error"] and words in run["error"], run["error"]
    assert f"over {4 << 20} bytes" in run["error"]
    assert elapsed < 20, elapsed
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["0"]]
    fixture_script(stack, [])


def test_rate_limit_spaces_requests(stack, db):
    fixture_script(stack, [])
    result = stack.etl("run", "--source", "coingecko", database=db, env={"COINGECKO_REQUESTS_PER_MINUTE": "60", "COINGECKO_MAX_PAGES": "3"})
    seen = [r for r in fixture_requests(stack) if r["path"].startswith("/gecko/")]
    assert len(seen) == 3
    gaps = [b["time"] - a["time"] for a, b in zip(seen, seen[1:])]
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert result.stderr.count('"rate limit wait"') == 2


def drifted_tickers():
    tickers = json.loads((SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json").read_text())
    for t in tickers:
        usd = t["quotes"]["USD"]
        usd["marketCap"] = usd.pop("market_cap")
    # Garbage in three records: a non-numeric price, a negative volume, an absurd timestamp.
    tickers[0]["quotes"]["USD"]["price"] = "n/a"
    tickers[1]["quotes"]["USD"]["volume_24h"] = -5
    tickers[2]["last_updated"] = "1970-01-01T00:00:00Z"
    del tickers[3]["id"]
    return tickers


def test_renamed_field_is_recognised_and_used_and_garbage_is_quarantined(stack, db):
    tickers = drifted_tickers()
    result, _ = paprika(stack, db, [{"status": 200, "body": tickers}])
    assert result.returncode == 0
    drift = stack.psql("SELECT kind, field, matched_field, confidence FROM schema_drift_events", stack.db_url(db))
    assert ["renamed", "quotes.USD.market_cap", "quotes.USD.marketCap", "0.980"] in drift
    assert '"message":"schema drift"' in result.stderr
    # The rename was applied: market caps kept flowing.
    eth = tickers[10]
    stored = stack.psql(f"SELECT market_cap_usd::text FROM market_records WHERE source_id = '{eth['id']}'", stack.db_url(db))
    assert stored == [[str(eth["quotes"]["USD"]["marketCap"])]]
    reasons = {locator.split(" snapshot=")[0]: reason
               for locator, reason in stack.psql("SELECT locator, reason FROM quarantine ORDER BY locator", stack.db_url(db))}
    assert reasons[f"id={tickers[0]['id']}"] == "quotes.USD.price: expected a number, got string"
    assert reasons[f"id={tickers[1]['id']}"] == "quotes.USD.volume_24h: negative value -5"
    assert reasons[f"id={tickers[2]['id']}"].startswith("last_updated: implausible timestamp")
    assert reasons["index=3"] == "id: missing value"
    run = run_row(stack, db)
    assert run["quarantined"] == 4 and run["inserted"] == 3791
    # Drift shows in /runs, /compare-runs and /health on the main database as well.
    fixture_script(stack, [{"status": 200, "body": tickers}])
    stack.etl("run", "--source", "coinpaprika", env=FAST)
    try:
        runs = stack.get("/runs", params={"source": "coinpaprika", "limit": 1}).json()["data"][0]
        assert runs["drift_events"] == 1
        anomalies = stack.get("/compare-runs", params={"source": "coinpaprika"}).json()["comparisons"][0]["anomalies"]
        assert "schema_drift" in [a["kind"] for a in anomalies]
        health = stack.get("/health", key=None).json()
        assert health["status"] == "degraded" and health["etl"]["coinpaprika"]["schema_drift_events"] == 1
    finally:
        fixture_script(stack, [])
        stack.etl("run", "--source", "coinpaprika")
    assert stack.get("/health", key=None).json()["status"] == "healthy"


def test_each_snapshot_keeps_its_rejections_once(stack, db):
    """A record rejected in two different snapshots is two quarantine rows (each run's rejection is
    kept); the same snapshot fetched again adds none. /stats counts the rows."""
    tickers = drifted_tickers()
    for _ in range(2):
        result, _ = paprika(stack, db, [{"status": 200, "body": tickers}])
        assert result.returncode == 0
    url = stack.db_url(db)
    assert stack.psql("SELECT count(*), count(DISTINCT run_id) FROM quarantine", url) == [["4", "1"]]
    tickers[10]["quotes"]["USD"]["price"] += 1  # a new snapshot, the same four bad records
    result, _ = paprika(stack, db, [{"status": 200, "body": tickers}])
    assert result.returncode == 0
    rows = stack.psql("SELECT split_part(locator, ' snapshot=', 1), split_part(locator, ' snapshot=', 2), run_id "
                      "FROM quarantine ORDER BY 1, 3", url)
    assert len(rows) == 8 and len({r[1] for r in rows}) == 2 and len({r[2] for r in rows}) == 2
    assert [r[0] for r in rows[::2]] == [r[0] for r in rows[1::2]]  # the same four records, twice
    assert stack.psql("SELECT quarantined, run_quarantined FROM etl_source_totals WHERE source = 'coinpaprika'", url) == [["8", "8"]]


def test_low_confidence_rename_quarantines_instead_of_guessing(stack, db):
    tickers = json.loads((SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json").read_text())[:50]
    for t in tickers:
        t["ts"] = t.pop("last_updated")
    result, _ = paprika(stack, db, [{"status": 200, "body": tickers}])
    assert result.returncode == 0
    drift = stack.psql("SELECT kind, field FROM schema_drift_events", stack.db_url(db))
    assert ["removed", "last_updated"] in drift and ["added", "ts"] in drift
    assert stack.psql("SELECT count(*), min(reason) FROM quarantine", stack.db_url(db)) == [["50", "last_updated: missing value"]]
