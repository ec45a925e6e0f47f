"""Identity evidence in a real run: each API's coin list fetched at most once a day and stored, and
the matches it decides recorded with their evidence (names without generic words, supply, a ticker
written differently, a namesake in the source's own list)."""
import json

from conftest import fixture_requests, fixture_script

ON = {"COIN_LISTS": "on"}


def mapping(stack, db, source, source_id):
    rows = stack.psql(f"SELECT asset_id, match_method, coalesce(evidence::text, '[]') FROM asset_sources "
                      f"WHERE source = '{source}' AND source_id = '{source_id}'", stack.db_url(db))
    asset, method, evidence = rows[0]
    return int(asset), method, json.loads(evidence)


def test_coin_lists_are_fetched_once_a_day_and_stored(stack):
    db = stack.fresh_database()
    fixture_script(stack, [])
    stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db, env=ON)
    paths = [r["path"] for r in fixture_requests(stack)]
    assert paths.count("/paprika/v1/coins") == 1 and paths.count("/gecko/api/v3/coins/list") == 1
    # Before each snapshot, so the run's own matching can use it.
    assert paths.index("/paprika/v1/coins") < paths.index("/paprika/v1/tickers?quotes=USD")
    stored = dict(stack.psql("SELECT source, coins FROM coin_lists", stack.db_url(db)))
    counted = dict(stack.psql("SELECT source, count(*) FROM source_coins GROUP BY 1", stack.db_url(db)))
    assert int(stored["coinpaprika"]) > 7000 and int(stored["coingecko"]) > 12000
    assert counted == stored
    # The same day again: no list is fetched.
    fixture_script(stack, [])
    stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db, env=ON)
    again = [r["path"] for r in fixture_requests(stack)]
    assert not [p for p in again if p in ("/paprika/v1/coins", "/gecko/api/v3/coins/list")]
    # A day later it is.
    stack.psql("UPDATE coin_lists SET fetched_at = fetched_at - interval '25 hours'", stack.db_url(db))
    fixture_script(stack, [])
    stack.etl("run", "--source", "coingecko", database=db, env=ON)
    assert [r["path"] for r in fixture_requests(stack)].count("/gecko/api/v3/coins/list") == 1


def test_a_failed_coin_list_does_not_fail_the_run(stack):
    db = stack.fresh_database()
    fixture_script(stack, [{"status": 500}])
    result = stack.etl("run", "--source", "coinpaprika", database=db, env={**ON, "ETL_HTTP_MAX_ATTEMPTS": "1"})
    assert result.returncode == 0, result.stderr
    assert "coin list not refreshed" in result.stderr
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["3795"]]


def test_evidence_decides_and_is_recorded(stack):
    db = stack.fresh_database()
    fixture_script(stack, [])
    stack.etl("run", database=db, env=ON)
    # "Celsius Network" at CoinGecko is CoinPaprika's "Celsius": the names agree without "Network".
    cel, method, evidence = mapping(stack, db, "coingecko", "celsius-degree-token")
    assert cel == mapping(stack, db, "coinpaprika", "cel-celsius")[0]
    assert method == "symbol+name-words" and any(e["kind"] == "name-words" for e in evidence)
    # IOTA's ticker is MIOTA at CoinPaprika.
    iota, method, _ = mapping(stack, db, "coingecko", "iota")
    assert iota == mapping(stack, db, "coinpaprika", "miota-iota")[0] and method == "ticker-variant+name"
    # CoinGecko's beam-2 "Beam" is not CoinPaprika's Beam: CoinGecko's own list has `beam` for that.
    beam2, method, evidence = mapping(stack, db, "coingecko", "beam-2")
    assert beam2 != mapping(stack, db, "coinpaprika", "beam-beam")[0] and method == "new"
    assert any(e["kind"] == "namesake" and "beam" in e["detail"] for e in evidence), evidence
    # Supply is kept with each mapping as evidence for later coins.
    assert stack.psql("SELECT max_supply FROM asset_sources WHERE source = 'coinpaprika' AND source_id = 'btc-bitcoin'",
                      stack.db_url(db)) == [["21000000"]]
    # Pegged tokens still stay apart.
    assert mapping(stack, db, "coingecko", "binance-peg-dogecoin")[0] != mapping(stack, db, "csv", "dogecoin")[0]


def test_without_the_coin_lists_a_later_namesake_stays_apart(stack):
    """CoinGecko's Jupiter of 2024 against CoinPaprika's of 2020 (data since 2020-04-28), in a run
    without the coin lists: the trading dates each mapping keeps say it is a later coin."""
    db = stack.fresh_database()
    fixture_script(stack, [])
    stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db, env={"COIN_LISTS": "off"})
    assert stack.psql("SELECT count(*) FROM source_coins", stack.db_url(db)) == [["0"]]
    jup, method, evidence = mapping(stack, db, "coingecko", "jupiter-exchange-solana")
    assert jup != mapping(stack, db, "coinpaprika", "jup-jupiter")[0] and method == "new"
    assert any(e["kind"] == "history" and e["weight"] < 0 for e in evidence), evidence
    dates = stack.psql("SELECT source_id, rfc3339(first_data_at), rfc3339(ath_at), rfc3339(atl_at) FROM asset_sources "
                       "WHERE source_id IN ('jup-jupiter', 'jupiter-exchange-solana') ORDER BY 1", stack.db_url(db))
    assert dates == [["jup-jupiter", "2020-04-28T00:00:00Z", "", ""],
                     ["jupiter-exchange-solana", "", "2024-01-31T15:02:47.304000Z", "2024-02-21T18:31:05.083000Z"]], dates
    # The same coin under both names still joins: Bitcoin's dates are years apart.
    assert mapping(stack, db, "coingecko", "bitcoin")[0] == mapping(stack, db, "coinpaprika", "btc-bitcoin")[0]
