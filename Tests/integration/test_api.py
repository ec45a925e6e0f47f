"""The API through real nginx (TLS, keys) and real responders, against the real CSV data."""
import datetime
import json

import pytest


def error_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    return body["error"]


def test_btc_rows_newest_first(stack):
    r = stack.get("/data", key=stack.key, params={"symbol": "btc", "source": "csv", "page_size": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "api_latency_ms", "data", "total", "page", "page_size", "next_cursor"}
    assert body["total"] == 2991 and body["page"] == 1 and body["page_size"] == 5
    assert [row["symbol"] for row in body["data"]] == ["BTC"] * 5
    assert body["data"][0]["observed_at"] == "2024-07-06T23:59:00Z"
    stamps = [row["observed_at"] for row in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert set(body["data"][0]) == {"asset_id", "symbol", "name", "source", "source_id", "price_usd", "market_cap_usd",
                                    "volume_24h_usd", "rank", "observed_at", "ingested_at"}
    assert r.headers["x-request-id"] == body["request_id"] and len(body["request_id"]) == 32


def test_numbers_keep_every_digit(stack):
    stored = stack.psql("SELECT price_usd::text, market_cap_usd::text FROM market_records WHERE source_id = 'bitcoin' "
                        "AND source = 'csv' ORDER BY observed_at DESC LIMIT 1")[0]
    r = stack.get("/data", params={"symbol": "BTC", "source": "csv", "page_size": 1})
    raw = r.text
    assert f'"price_usd":{stored[0]}' in raw.replace(" ", "") and f'"market_cap_usd":{stored[1]}' in raw.replace(" ", "")


def test_missing_or_unknown_key_is_json_401(stack):
    for key in (None, "not-a-key"):
        r = stack.get("/data", key=key)
        err = error_of(r, 401)
        assert err["code"] == "unauthorized"
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_health_needs_no_key(stack):
    r = stack.get("/health", key=None)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy" and body["database"]["status"] == "healthy"
    assert body["etl"]["csv"]["last_run_status"] == "succeeded"
    assert isinstance(body["api_latency_ms"], float)


@pytest.mark.parametrize("query,name", [
    ("page_size=0", "page_size"), ("page_size=501", "page_size"), ("page=abc", "page"), ("page=-2", "page"),
    ("limit=0", "limit"), ("offset=-1", "offset"), ("source=nyse", "source"), ("since=2024-99-01", "since"),
    ("until=tomorrow", "until"), ("cursor=%%%", "cursor"),
    ("cursor=bm9wZQ", "cursor"), ("page=1&limit=5", "page"), ("page=1&page=2", "page"), ("symbol=%FF", "symbol"),
    ("symbol=a%00b", "symbol"), ("asset_id=1.5", "asset_id"),
])
def test_bad_parameters_are_400_naming_the_parameter(stack, query, name):
    err = error_of(stack.get("/data?" + query), 400)
    assert err["message"].startswith(name + ":"), err


def test_a_range_ending_before_it_starts_is_an_empty_page(stack):
    page = stack.get("/data?since=2024-02-01T10:30:00Z&until=2024-01-01T10:30:00Z&symbol=btc").json()
    assert page["data"] == [] and page["total"] == 0 and page["next_cursor"] is None


def test_overlong_symbol_is_400(stack):
    assert error_of(stack.get("/data", params={"symbol": "X" * 33}), 400)["message"].startswith("symbol:")


def test_unknown_parameter(stack):
    err = error_of(stack.get("/data?colour=red"), 400)
    assert err["code"] == "unknown_parameter" and "colour" in err["message"]


@pytest.mark.parametrize("symbol", ["' OR '1'='1", "%", "_", "\\", "BTC';DROP TABLE x;--", "ß∂ƒ"])
def test_hostile_strings_are_matched_literally(stack, symbol):
    r = stack.get("/data", params={"symbol": symbol})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 0


def test_pages_are_disjoint_and_ordered(stack):
    first = stack.get("/data", params={"page": 1, "page_size": 100}).json()
    second = stack.get("/data", params={"page": 2, "page_size": 100}).json()
    total = int(stack.psql("SELECT count(*) FROM market_records")[0][0])
    assert first["total"] == second["total"] == total
    key = lambda row: (row["source"], row["source_id"], row["observed_at"])
    assert not set(map(key, first["data"])) & set(map(key, second["data"]))
    rows = first["data"] + second["data"]
    order = [(-datetime.datetime.fromisoformat(r["observed_at"].replace("Z", "+00:00")).timestamp(), r["source"], r["source_id"])
             for r in rows]
    assert order == sorted(order)
    by_offset = stack.get("/data", params={"limit": 100, "offset": 100}).json()
    assert by_offset["data"] == second["data"] and by_offset["limit"] == 100 and by_offset["offset"] == 100
    assert "page" not in by_offset


def test_filters(stack):
    eth = stack.get("/data", params={"symbol": "eth", "page_size": 1}).json()["data"][0]
    by_asset = stack.get("/data", params={"asset_id": eth["asset_id"], "page_size": 500}).json()
    expected = int(stack.psql(f"SELECT count(*) FROM market_records WHERE asset_id = {eth['asset_id']}")[0][0])
    assert by_asset["total"] == expected >= 2160 and {r["symbol"] for r in by_asset["data"]} == {"ETH"}
    window = stack.get("/data", params={"symbol": "ETH", "since": "2021-01-01", "until": "2021-01-08T23:59:00Z"}).json()
    assert [r["observed_at"] for r in window["data"]] == [f"2021-01-0{d}T23:59:00Z" for d in range(7, 0, -1)]
    for source in ("coingecko", "coinpaprika"):
        expected = int(stack.psql(f"SELECT count(*) FROM market_records WHERE source = '{source}'")[0][0])
        body = stack.get("/data", params={"source": source}).json()
        assert body["total"] == expected > 0 and {r["source"] for r in body["data"]} == {source}
    assert stack.get("/data", params={"source": "csv"}).json()["total"] == 17061


def test_cursor_walk_visits_every_row_once(stack):
    seen = []
    params = {"symbol": "BNB", "source": "csv", "page_size": 500}
    while True:
        body = stack.get("/data", params=params).json()
        seen += [(r["source_id"], r["observed_at"]) for r in body["data"]]
        if body["next_cursor"] is None:
            break
        params = {"symbol": "BNB", "source": "csv", "page_size": 500, "cursor": body["next_cursor"]}
    assert len(seen) == len(set(seen)) == 1442


def test_cursors_inside_a_shared_instant_and_deep_pages_follow_the_table_order(stack):
    """A cursor that stops among rows sharing one instant (the cursor query reads two key ranges)
    and deep numbered pages (keys first, then the page's rows) give exactly the table's order."""
    order = "ORDER BY observed_at DESC, source, source_id"
    expected = [tuple(r) for r in stack.psql(
        "SELECT source, source_id, rfc3339(observed_at) FROM market_records "
        f"WHERE observed_at >= '2021-01-01' AND observed_at < '2021-01-05' {order}")]
    assert len(expected) > 12 and len({r[2] for r in expected}) * 3 <= len(expected), "instants are shared"
    seen, params = [], {"since": "2021-01-01", "until": "2021-01-05", "page_size": 2}
    while True:
        body = stack.get("/data", params=params).json()
        seen += [(r["source"], r["source_id"], r["observed_at"]) for r in body["data"]]
        if body["next_cursor"] is None:
            break
        params = {"since": "2021-01-01", "until": "2021-01-05", "page_size": 2, "cursor": body["next_cursor"]}
    assert seen == expected
    total = int(stack.psql("SELECT count(*) FROM market_records")[0][0])
    for page, where, params in [(2, "", {}), (97, "", {}), (total // 50 + 1, "", {}),
                                (30, "WHERE source = 'csv'", {"source": "csv"}),
                                (12, "WHERE upper(symbol) = 'BTC'", {"symbol": "btc"})]:
        body = stack.get("/data", params={"page": page, "page_size": 50, **params}).json()
        rows = stack.psql(f"SELECT source, source_id, rfc3339(observed_at) FROM market_records {where} {order} "
                          f"LIMIT 50 OFFSET {(page - 1) * 50}")
        at = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert [(r["source"], r["source_id"], at(r["observed_at"])) for r in body["data"]] == [
            (source, source_id, at(observed)) for source, source_id, observed in rows], (page, params)
        assert len(rows) > 0


def test_post_is_405_and_unknown_path_404(stack):
    r = stack.http.post(stack.https + "/data", headers={"x-api-key": stack.bench_key}, timeout=5, verify=stack.cert)
    assert error_of(r, 405)["code"] == "method_not_allowed"
    assert error_of(stack.get("/nowhere"), 404)["code"] == "not_found"


def test_stats_and_runs(stack):
    stats = stack.get("/stats").json()
    assert stats["records_total"] == int(stack.psql("SELECT count(*) FROM market_records")[0][0])
    assert stats["sources"]["csv"]["records"] == 17061
    assert stats["sources"]["csv"]["failed_runs"] == 0
    assert len(stats["sources"]["csv"]["checkpoints"]) == 7 and stats["sources"]["csv"]["checkpoints_total"] == 7


def test_stats_lists_the_newest_checkpoints_however_many_streams(stack, tmp_path, responder):
    """SYNTHETIC test files: 25 CSV streams; /stats lists the 20 most recently moved and counts all 25."""
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    header = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r\n"
    for n in range(25):
        (csv_dir / f"coin_Stream{n:02d}.csv").write_text(header + f"1,Stream {n:02d},ST{n:02d},01-01-2024 23:59,2,1,1,1,1,1\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    with open(csv_dir / "coin_Stream03.csv", "a") as f:
        f.write("2,Stream 03,ST03,02-01-2024 23:59,2,1,1,1,1,1\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    status, _, body = responder(database=db).get("/stats")
    assert status == 200, body
    csv = json.loads(body)["sources"]["csv"]
    assert csv["checkpoints_total"] == 25 and len(csv["checkpoints"]) == 20
    assert csv["checkpoints"][0]["stream"] == "coin_Stream03.csv", "the stream that moved last comes first"
    times = [c["updated_at"] for c in csv["checkpoints"]]
    assert times == sorted(times, reverse=True)
    runs = stack.get("/runs", params={"limit": 1, "source": "csv"}).json()
    assert runs["data"][0]["source"] == "csv" and runs["data"][0]["status"] == "succeeded"


def test_api_role_cannot_write(stack):
    result = stack.psql("INSERT INTO assets (symbol, name) VALUES ('WRITE-TEST', 'x')", url=stack.api_url, check=False)
    assert result.returncode != 0
    assert "permission denied" in result.stderr or "read-only" in result.stderr
    assert stack.psql("SELECT count(*) FROM assets WHERE symbol = 'WRITE-TEST'", url=stack.api_url) == [["0"]]
