"""A cursor walk visits every matching record exactly once while the ETL commits newer rows."""
import datetime

import pytest

from conftest import wait_for


# It appends rows to the shared CSV stream, which changes every count other tests compare.
@pytest.mark.disruptive(2)
def test_cursor_walk_during_etl_inserts(stack):
    before = {(r[0], r[1]) for r in stack.psql(
        "SELECT source_id, rfc3339(observed_at) FROM market_records WHERE symbol = 'BTC' AND source = 'csv'")}
    seen = []
    params = {"symbol": "btc", "source": "csv", "page_size": 250}
    body = stack.get("/data", params=params).json()
    seen += [(r["source_id"], r["observed_at"]) for r in body["data"]]
    # The ETL appends ten newer days of Bitcoin and commits them mid-walk.
    path = stack.csv_dir / "coin_Bitcoin.csv"
    last = datetime.date(2024, 7, 6)
    with open(path, "ab") as f:
        for day in range(1, 11):
            d = last + datetime.timedelta(days=day)
            f.write(f"{9000 + day},Bitcoin,BTC,{d:%d-%m-%Y} 23:59,1,1,1,{60000 + day},1000,1200000000000\r\n".encode())
    stack.etl("run", "--source", "csv")
    while body["next_cursor"]:
        body = stack.get("/data", params={**params, "cursor": body["next_cursor"]}).json()
        seen += [(r["source_id"], r["observed_at"]) for r in body["data"]]
    assert len(seen) == len(set(seen)), "a record was visited twice"
    assert set(seen) == before, "the walk must visit exactly the records that existed when it started"
    # The new rows are there for a fresh walk, and the cached totals moved with the data version.
    fresh = stack.get("/data", params=params).json()
    assert fresh["total"] == len(before) + 10
    assert fresh["data"][0]["observed_at"] == "2024-07-16T23:59:00Z"


def test_all_responders_down_is_json_502(stack):
    stack.sh("api-stop")
    try:
        r = stack.get("/data")
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "bad_gateway" and r.json()["request_id"] == r.headers["x-request-id"]
    finally:
        stack.sh("api-start")
    # nginx skips servers that failed for fail_timeout (2 s), then uses them again.
    assert wait_for(lambda: stack.get("/data").status_code == 200, timeout=4)
