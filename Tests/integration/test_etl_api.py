"""CoinPaprika and CoinGecko through libcurl against the local fixture server replaying the real payloads."""
import decimal
import json
import shutil
import signal

from conftest import SAMPLES, fixture_requests, fixture_script, wait_for
from test_etl_csv import run_row, table_digest


def test_keys_go_in_the_right_headers_and_nowhere_else(stack, tmp_path):
    db = stack.fresh_database()
    key_file = tmp_path / "gecko.key"
    key_file.write_text("gecko-secret-4567\n")
    fixture_script(stack, [])
    result = stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db,
                       env={"COINPAPRIKA_API_KEY": "paprika-secret-1234", "COINGECKO_API_KEY_FILE": str(key_file)})
    seen = fixture_requests(stack)
    paprika = [r for r in seen if r["path"].startswith("/paprika/")]
    gecko = [r for r in seen if r["path"].startswith("/gecko/")]
    assert [r["path"] for r in paprika] == ["/paprika/v1/tickers?quotes=USD"]
    assert paprika[0]["headers"]["Authorization"] == "paprika-secret-1234"
    assert [r["path"] for r in gecko] == [
        f"/gecko/api/v3/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=250&page={n}" for n in (1, 2)]
    assert all(r["headers"]["x-cg-demo-api-key"] == "gecko-secret-4567" for r in gecko)
    for r in paprika + gecko:
        assert r["headers"]["User-Agent"].startswith("kasparro-etl/")
        assert "gzip" in r["headers"]["Accept-Encoding"]
    for text in (result.stdout, result.stderr):
        assert "secret" not in text
    # The pro plan switches the header.
    fixture_script(stack, [])
    stack.etl("run", "--source", "coingecko", database=db,
              env={"COINGECKO_API_KEY": "gecko-pro-9999", "COINGECKO_API_PLAN": "pro", "COINGECKO_MAX_PAGES": "1"})
    pro = [r for r in fixture_requests(stack) if r["path"].startswith("/gecko/")]
    assert len(pro) == 1 and pro[0]["headers"]["x-cg-pro-api-key"] == "gecko-pro-9999"
    assert "x-cg-demo-api-key" not in pro[0]["headers"]


def test_first_run_then_unchanged_rerun(stack):
    db = stack.fresh_database()
    stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db)
    counts = dict(stack.psql("SELECT source, count(*) FROM market_records GROUP BY source", stack.db_url(db)))
    # Page 2 repeats 102 of page 1's coins (rows move between pages): 250 + 148 distinct.
    assert counts == {"coinpaprika": "3795", "coingecko": "398"}
    # Raw payloads are kept per page as received: 1 tickers page, 2 markets pages (every record of
    # each, the 102 repeated ones included).
    raw = stack.psql("SELECT (SELECT count(*) FROM raw_coinpaprika), (SELECT count(*) FROM raw_coingecko), "
                     "(SELECT count(*) FROM raw_api_pages)", stack.db_url(db))
    assert raw == [["3795", "500", "3"]]
    again = stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db)
    assert again.stdout.count("nothing new") == 2
    for source in ("coinpaprika", "coingecko"):
        row = stack.psql(f"SELECT inserted, updated FROM etl_runs WHERE source = '{source}' ORDER BY run_id DESC LIMIT 1",
                         stack.db_url(db))
        assert row == [["0", "0"]]
    assert stack.psql("SELECT (SELECT count(*) FROM raw_coinpaprika), (SELECT count(*) FROM raw_coingecko), "
                      "(SELECT count(*) FROM raw_api_pages)", stack.db_url(db)) == raw


def test_numbers_keep_their_digits_from_payload_to_api(stack):
    tickers = json.loads((SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json").read_text(),
                         parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    tiny = next(t for t in tickers if 0 < t["quotes"]["USD"]["price"] < decimal.Decimal("1e-9"))
    # The value with the most significant digits in the payload.
    long = next(t for t in tickers if len(t["quotes"]["USD"]["volume_24h"].as_tuple().digits) >= 14)
    for ticker, field, api_field in ((tiny, "price", "price_usd"), (long, "volume_24h", "volume_24h_usd")):
        asset = stack.psql(f"SELECT asset_id FROM asset_sources WHERE source = 'coinpaprika' AND source_id = '{ticker['id']}'")[0][0]
        r = stack.get("/data", params={"asset_id": asset, "source": "coinpaprika"})
        row = json.loads(r.text, parse_float=decimal.Decimal, parse_int=decimal.Decimal)["data"][0]
        assert row["source_id"] == ticker["id"]
        assert row[api_field] == ticker["quotes"]["USD"][field], (ticker["id"], field)


def test_one_identity_per_coin_across_three_sources(stack):
    rows = stack.psql("SELECT a.symbol, string_agg(s.source || '=' || s.source_id, ' ' ORDER BY s.source) "
                      "FROM asset_sources s JOIN assets a USING (asset_id) GROUP BY a.asset_id, a.symbol "
                      "HAVING count(DISTINCT s.source) = 3 ORDER BY a.symbol")
    matched = {symbol: ids for symbol, ids in rows}
    assert set(matched) == {"BNB", "BTC", "DOGE", "ETH", "XEM", "XLM", "XRP"}
    assert matched["BTC"] == "coingecko=bitcoin coinpaprika=btc-bitcoin csv=bitcoin"
    assert matched["XRP"] == "coingecko=ripple coinpaprika=xrp-xrp csv=xrp"
    # Same ticker, different coin: never merged on the symbol alone.
    peg = stack.psql("SELECT asset_id FROM asset_sources WHERE source = 'coingecko' AND source_id = 'binance-peg-dogecoin'")
    doge = stack.psql("SELECT asset_id FROM asset_sources WHERE source = 'csv' AND source_id = 'dogecoin'")
    assert peg != doge
    methods = dict(stack.psql("SELECT source_id, match_method || ' ' || match_confidence FROM asset_sources "
                              "WHERE source_id IN ('btc-bitcoin', 'binancecoin')"))
    assert methods == {"btc-bitcoin": "symbol+name 0.950", "binancecoin": "symbol+id 0.850"}
    # Tickers shared by several coins stay several assets.
    shared = stack.psql("SELECT count(*) FROM (SELECT symbol FROM assets GROUP BY symbol HAVING count(*) > 1) s")
    assert int(shared[0][0]) > 200


def test_one_source_down_does_not_stop_the_others(stack):
    db = stack.fresh_database()
    result = stack.etl("run", database=db, check=False,
                       env={"COINGECKO_BASE_URL": "http://127.0.0.1:1/api/v3", "ETL_HTTP_MAX_ATTEMPTS": "2",
                            "ETL_HTTP_BACKOFF_MS": "10"})
    assert result.returncode == 2
    runs = {r[0]: (r[1], r[2]) for r in stack.psql("SELECT source, status, coalesce(error, '') FROM etl_runs", stack.db_url(db))}
    assert runs["csv"][0] == runs["coinpaprika"][0] == "succeeded"
    assert runs["coingecko"][0] == "failed" and "cannot connect" in runs["coingecko"][1]
    assert "coingecko: failed" in result.stdout


def test_kill_9_then_resume_matches_an_uninterrupted_run(stack):
    reference = stack.fresh_database()
    stack.etl("run", "--source", "coinpaprika", database=reference)
    expected = table_digest(stack, reference, sources=("coinpaprika",))
    db = stack.fresh_database()
    for threshold in (300, 2100):
        process = stack.etl("run", "--source", "coinpaprika", database=db, wait=False, env={"ETL_BATCH_SIZE": "50"})
        reached = wait_for(lambda: int(stack.psql("SELECT count(*) FROM market_records", stack.db_url(db))[0][0]) >= threshold,
                           timeout=60, interval=0.005)
        assert reached
        process.send_signal(signal.SIGKILL)
        process.wait()
    resumed = stack.etl("run", "--source", "coinpaprika", database=db)
    assert "resuming" in resumed.stderr or "after its committed records" in resumed.stderr
    assert table_digest(stack, db, sources=("coinpaprika",)) == expected
    # The resumed run read only what was left of the same snapshot.
    assert run_row(stack, db)["fetched"] < 3795 - 2000


def test_kill_9_between_a_batch_insert_and_its_commit(stack, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    shutil.copy(stack.csv_dir / "coin_BinanceCoin.csv", csv_dir)
    reference = stack.fresh_database()
    stack.etl("run", "--source", "coingecko", "--source", "csv", database=reference, csv_dir=csv_dir)
    expected = table_digest(stack, reference, sources=("coingecko", "csv"))
    db = stack.fresh_database()
    for source, batches_before_kill in (("csv", 3), ("coingecko", 2)):
        process = stack.etl("run", "--source", "csv", "--source", "coingecko", database=db, wait=False, csv_dir=csv_dir,
                            env={"ETL_BATCH_SIZE": "100", "ETL_PAUSE_BEFORE_COMMIT_MS": "200"})
        seen = 0
        for line in process.stderr:
            if "pausing before COMMIT" in line and f'"source":"{source}"' in line:
                seen += 1
                if seen == batches_before_kill:
                    break
        # The batch's rows and checkpoint are written but not committed: kill now.
        process.send_signal(signal.SIGKILL)
        process.wait()
        committed = stack.psql(f"SELECT coalesce(sum(fetched), 0) FROM etl_runs WHERE source = '{source}'", stack.db_url(db))
        assert committed[0][0] != "0"
    stack.etl("run", "--source", "csv", "--source", "coingecko", database=db, csv_dir=csv_dir)
    assert table_digest(stack, db, sources=("coingecko", "csv")) == expected
    assert stack.psql("SELECT count(*) FROM quarantine", stack.db_url(db)) == [["0"]]


def test_health_is_degraded_while_a_source_fails(stack):
    stack.etl("run", "--source", "coingecko", check=False,
              env={"COINGECKO_BASE_URL": "http://127.0.0.1:1/api/v3", "ETL_HTTP_MAX_ATTEMPTS": "1"})
    try:
        body = stack.get("/health", key=None).json()
        assert body["status"] == "degraded"
        assert body["etl"]["coingecko"]["last_run_status"] == "failed"
        assert body["etl"]["coinpaprika"]["last_run_status"] == "succeeded"
    finally:
        stack.etl("run", "--source", "coingecko")
    assert stack.get("/health", key=None).json()["status"] == "healthy"
