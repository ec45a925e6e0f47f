"""Exact totals from the rollups: equal to count(*) for random filter combinations, after ETL runs
(a run killed with kill -9 included) and after updates and deletes by any writer."""
import datetime
import random
import signal

import kasparro_tooling as tooling
from conftest import wait_for

INVARIANT = """
SELECT (SELECT count(*) FROM (
          SELECT date_trunc('hour', observed_at, 'UTC') AS b, source, count(*) AS n FROM market_records GROUP BY 1, 2
          EXCEPT SELECT bucket, source, n FROM market_counts_hourly WHERE n <> 0) x)
     + (SELECT count(*) FROM (
          SELECT bucket, source, n FROM market_counts_hourly WHERE n <> 0
          EXCEPT SELECT date_trunc('hour', observed_at, 'UTC'), source, count(*) FROM market_records GROUP BY 1, 2) y)
     + (SELECT count(*) FROM (
          SELECT date_trunc('month', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*) FROM market_records GROUP BY 1, 2, 3, 4
          EXCEPT SELECT bucket, source, asset_id, symbol, n FROM market_counts_monthly WHERE n <> 0) z)
     + (SELECT count(*) FROM (
          SELECT bucket, source, asset_id, symbol, n FROM market_counts_monthly WHERE n <> 0
          EXCEPT SELECT date_trunc('month', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*) FROM market_records GROUP BY 1, 2, 3, 4) w)
"""


def rollups_match(stack, url=None) -> bool:
    return stack.psql(INVARIANT, url)[0][0] == "0"


def random_filters(stack, rng: random.Random, count: int) -> list:
    """Random filter combinations over what the stack's database holds."""
    assets = [r[0] for r in stack.psql("SELECT DISTINCT asset_id FROM market_records ORDER BY 1")]
    symbols = [r[0] for r in stack.psql("SELECT DISTINCT symbol FROM market_records ORDER BY 1 LIMIT 50")]
    low, high = [datetime.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in stack.psql(
        "SELECT rfc3339(min(observed_at)), rfc3339(max(observed_at)) FROM market_records")[0]]
    return tooling.random_filters(rng, count, symbols=symbols, assets=assets, low=low, high=high)


def expected_total(stack, params: dict) -> int:
    return int(stack.psql("SELECT count(*) FROM market_records WHERE " + tooling.filter_condition(params))[0][0])


def test_totals_equal_count_for_random_filters(stack):
    assert rollups_match(stack)
    rng = random.Random(20261123)
    for params in random_filters(stack, rng, 60):
        body = stack.get("/data", params={**params, "page_size": 1}).json()
        assert body["total"] == expected_total(stack, params), params
    # /stats reads the same rollups.
    stats = stack.get("/stats").json()
    assert stats["records_total"] == int(stack.psql("SELECT count(*) FROM market_records")[0][0])


def test_rollups_stay_exact_through_a_killed_run_and_any_writer(stack):
    db = stack.fresh_database()
    url = stack.db_url(db)
    # A CSV run killed with kill -9 mid-way, then resumed.
    run = stack.etl("run", "--source", "csv", database=db, wait=False,
                    env={"ETL_BATCH_SIZE": "500", "ETL_PAUSE_BEFORE_COMMIT_MS": "300"})
    assert wait_for(lambda: int(stack.psql("SELECT count(*) FROM market_records", url)[0][0]) > 1000, timeout=30)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)
    assert rollups_match(stack, url)
    stack.etl("run", "--source", "csv", database=db)
    assert rollups_match(stack, url)
    # Updates that move rows between keys (another ticker, another day), and deletes.
    stack.psql("UPDATE market_records SET symbol = symbol || 'X' WHERE source_id IN "
               "(SELECT source_id FROM market_records WHERE source = 'csv' LIMIT 3)", url)
    stack.psql("UPDATE market_records SET observed_at = observed_at + interval '90 minutes' "
               "WHERE source = 'csv' AND observed_at < '2015-01-01'", url)
    stack.psql("DELETE FROM market_records WHERE source = 'csv' AND observed_at >= '2020-03-01' AND observed_at < '2020-04-01'", url)
    assert rollups_match(stack, url)
