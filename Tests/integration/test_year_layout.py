"""The layout for a year of data (migration 5): partitions made ahead of the rows and across month
boundaries, raw payloads retrievable byte for byte, retention by whole partitions with exact
totals, and the in-place migration of a database filled by the previous schema while a real
responder keeps answering from it."""
import datetime
import json
import subprocess
import uuid

from conftest import SAMPLES
from test_totals import INVARIANT


def rollups_match(stack, url) -> bool:
    return stack.psql(INVARIANT, url)[0][0] == "0"


def partitions(stack, url, table="market_records") -> list:
    return [row[0] for row in stack.psql(f"SELECT partition FROM kasparro_partitions('{table}')", url)]


def rows_digest(stack, url, where="true") -> list:
    """Every row's content (not its physical layout), as one digest and a count."""
    return stack.psql(f"""
        SELECT count(*), md5(string_agg(concat_ws('|', source, source_id, observed_at, asset_id, symbol, name, price_usd,
                                                   market_cap_usd, volume_24h_usd, rank, run_id, ingested_at),
                                        ',' ORDER BY observed_at, source, source_id))
        FROM market_records WHERE {where}""", url)


def test_partitions_are_made_for_each_month_a_batch_touches(stack, tmp_path):
    db = stack.fresh_database()
    url = stack.db_url(db)
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    year = datetime.datetime.now(datetime.timezone.utc).year - 1  # last year: monthly partitions, never in the future
    (csv_dir / "coin_Boundary.csv").write_text(
        "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\n"
        f"1,Boundary,BND,31-01-{year} 23:59,2,1,1,1.5,100,1000\n"
        f"2,Boundary,BND,01-02-{year} 00:00,2,1,1,1.6,100,1000\n"
        f"3,Boundary,BND,01-02-{year} 23:59,2,1,1,1.7,100,1000\n"
        f"4,Boundary,BND,31-12-{year - 4} 23:59,2,1,1,0.5,100,1000\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    # Last year's and this year's months get a partition each; a year long over gets one for the whole year.
    assert partitions(stack, url) == [f"market_records_y{year - 4}", f"market_records_m{year}01", f"market_records_m{year}02"]
    placed = stack.psql("SELECT tableoid::regclass::text, price_usd::text FROM market_records ORDER BY observed_at", url)
    assert placed == [[f"market_records_y{year - 4}", "0.5"], [f"market_records_m{year}01", "1.5"],
                      [f"market_records_m{year}02", "1.6"], [f"market_records_m{year}02", "1.7"]]
    assert rollups_match(stack, url)
    # The monthly rollup splits at the boundary.
    assert stack.psql("SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM'), n FROM market_counts_monthly "
                      "WHERE bucket >= make_date(" + str(year) + ", 1, 1) ORDER BY 1", url) == [
        [f"{year}-01", "1"], [f"{year}-02", "2"]]
    # API runs made this month's and next month's raw partitions ahead of need.
    stack.etl("run", "--source", "coinpaprika", database=db)
    now = datetime.datetime.now(datetime.timezone.utc)
    after = (now.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    assert partitions(stack, url, "raw_api_pages") == [f"raw_api_pages_m{now:%Y%m}", f"raw_api_pages_m{after:%Y%m}"]


def element_spans(body: bytes) -> list:
    """Parses the top-level array of `body` independently of the ETL: each element's object and its
    exact byte span (JSON strings cannot contain raw brackets that matter outside of strings)."""
    decoder = json.JSONDecoder()
    text = body.decode("utf-8")
    spans, index = [], text.index("[") + 1
    while True:
        while text[index] in " \t\r\n,":
            index += 1
        if text[index] == "]":
            return spans
        value, end = decoder.raw_decode(text, index)
        spans.append((value, text[index:end].encode("utf-8")))
        index = end


def test_raw_json_of_a_record_comes_back_byte_for_byte(stack):
    db = stack.fresh_database()
    stack.etl("run", "--source", "coinpaprika", "--source", "coingecko", database=db)
    # The fixture serves the 2025 markets file as page 1 and the 2022 one as page 2; a coin on both
    # is kept from page 1 (its first sighting), a coin only on page 2 from page 2.
    page1 = SAMPLES / "coingecko" / "markets_page1_per250_2025-02-09.json"
    page2 = SAMPLES / "coingecko" / "markets_page1_per250_2022-02-23.json"
    only_page2 = sorted({v["id"] for v, _ in element_spans(page2.read_bytes())} - {v["id"] for v, _ in element_spans(page1.read_bytes())})[0]
    cases = [("coinpaprika", SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json", ["btc-bitcoin", "eth-ethereum"]),
             ("coingecko", page1, ["bitcoin", "tether"]), ("coingecko", page2, [only_page2])]
    for source, sample, ids in cases:
        spans = {value["id"]: raw for value, raw in element_spans(sample.read_bytes())}
        for record_id in ids:
            result = subprocess.run([str(stack.bin_dir / "kasparro-etl"), "raw", source, record_id],
                                    env={**stack.env, "PGPASSFILE": stack.pgpass, "DATABASE_URL": stack.db_url(db)},
                                    capture_output=True, timeout=30)
            assert result.returncode == 0, result.stderr
            assert result.stdout == spans[record_id], (source, record_id)
    # Pages are kept as a skeleton and its numbers (migration 12); each joins back to the page as served.
    pages = stack.psql("SELECT page, body IS NULL, encode(kasparro_page_bytes(body, skeleton, numbers), 'hex') "
                       "FROM raw_api_pages WHERE source = 'coingecko' ORDER BY page", stack.db_url(db))
    assert [(page, split, bytes.fromhex(hexed)) for page, split, hexed in pages] == [
        ("1", "t", page1.read_bytes()), ("2", "t", page2.read_bytes())]
    # The SQL view answers the same bytes.
    view = stack.psql("SELECT encode(raw, 'hex') FROM raw_api_records WHERE source = 'coinpaprika' "
                      "AND source_id = 'btc-bitcoin'", stack.db_url(db))
    assert [bytes.fromhex(row[0]) for row in view] == [
        {v["id"]: raw for v, raw in element_spans(cases[0][1].read_bytes())}["btc-bitcoin"]]
    # A CSV line by FILE:LINE, as read.
    result = subprocess.run([str(stack.bin_dir / "kasparro-etl"), "raw", "csv", "coin_Bitcoin.csv:3"],
                            env={**stack.env, "PGPASSFILE": stack.pgpass, "DATABASE_URL": stack.db_url(db)},
                            capture_output=True, timeout=30)
    assert result.returncode == 3 and b"no raw line 3" in result.stderr  # this database has no CSV data
    stack.etl("run", "--source", "csv", database=db)
    result = subprocess.run([str(stack.bin_dir / "kasparro-etl"), "raw", "csv", "coin_Bitcoin.csv:3"],
                            env={**stack.env, "PGPASSFILE": stack.pgpass, "DATABASE_URL": stack.db_url(db)},
                            capture_output=True, timeout=30)
    expected = (stack.csv_dir / "coin_Bitcoin.csv").read_bytes().split(b"\n")[2].rstrip(b"\r")
    assert result.returncode == 0 and result.stdout == expected


def months_to(cutoff: datetime.date) -> int:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now.year - cutoff.year) * 12 + (now.month - cutoff.month)


def test_retention_drops_whole_partitions_and_keeps_totals_exact(stack):
    db = stack.fresh_database()
    url = stack.db_url(db)
    stack.etl("run", database=db)
    # An old raw page, as a run of 2018 would have stored it.
    stack.psql("SELECT kasparro_ensure_partition('raw_api_pages', 'raw_api_pages', '2018-06-15', NULL);"
               "INSERT INTO raw_api_pages (fetched_at, run_id, page, source, sha256, body, ids, starts, lengths) "
               "VALUES ('2018-06-15', 1, 1, 'coinpaprika', sha256('[]'), '[]', '{}', '{}', '{}')", url)
    kept_before = rows_digest(stack, url, "observed_at >= '2019-01-01'")
    months = months_to(datetime.date(2019, 1, 1))
    # Raw payloads may not be kept for less time than the records they belong to.
    refused = stack.etl("retention", database=db, check=False,
                        env={"RETENTION_MARKET_MONTHS": str(months), "RETENTION_RAW_MONTHS": str(months - 1)})
    assert refused.returncode == 1 and "RETENTION_RAW_MONTHS" in refused.stderr
    env = {"RETENTION_MARKET_MONTHS": str(months), "RETENTION_RAW_MONTHS": str(months)}
    dry = stack.etl("retention", "--dry-run", database=db, env=env)
    old = [p for p in partitions(stack, url) if p.startswith("market_records_y") and p < "market_records_y2019"]
    assert old and all(f"would drop market_records partition {p} " in dry.stdout for p in old)
    assert "raw_api_pages_m201806" in dry.stdout and partitions(stack, url)[:len(old)] == old  # nothing dropped yet
    version = stack.psql("SELECT version FROM data_version", url)[0][0]
    stack.etl("run", "--source", "csv", database=db, env=env)  # a run applies retention after its sources
    assert [p for p in partitions(stack, url) if p in old] == [] and len(partitions(stack, url)) > 0
    assert stack.psql("SELECT count(*) FROM market_records WHERE observed_at < '2019-01-01'", url) == [["0"]]
    assert rows_digest(stack, url, "observed_at >= '2019-01-01'") == kept_before
    assert rollups_match(stack, url)
    assert stack.psql("SELECT count(*) FROM market_counts_monthly WHERE bucket < '2019-01-01'", url) == [["0"]]
    assert int(stack.psql("SELECT version FROM data_version", url)[0][0]) > int(version)
    raw = partitions(stack, url, "raw_api_pages")
    assert "raw_api_pages_m201806" not in raw and len(raw) == 2
    # The API records fetched this month keep their raw payloads.
    assert stack.psql("SELECT count(*) > 0 FROM raw_api_records", url) == [["t"]]
    again = stack.etl("retention", database=db, env=env)
    assert "nothing older" in again.stdout


V4_FILL = """
INSERT INTO etl_runs (invocation_id, source, trigger, status, finished_at)
SELECT gen_random_uuid(), s, 'test', 'succeeded', now() FROM unnest(ARRAY['csv', 'coinpaprika']) AS s;
INSERT INTO assets (symbol, name) SELECT 'V' || i, 'V4 coin ' || i FROM generate_series(1, 60) i;
INSERT INTO asset_sources (source, source_id, asset_id, symbol, name, match_method, match_confidence)
SELECT CASE WHEN a.asset_id <= 40 THEN 'csv' ELSE 'coinpaprika' END, 'v4-coin-' || a.asset_id, a.asset_id, a.symbol,
       a.name, 'new', 1 FROM assets a;
-- 40 coins of daily history 2015-2020, 20 coins every 15 minutes across a month boundary.
INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, price_usd, market_cap_usd,
                            volume_24h_usd, rank, run_id)
SELECT 'csv', 'v4-coin-' || c, timestamptz '2015-01-01 23:59+00' + d * interval '1 day', c, 'V' || c, 'V4 coin ' || c,
       round((random() * 1000)::numeric, 8), round((random() * 1e9)::numeric, 2), round((random() * 1e7)::numeric, 2),
       NULL, 1
FROM generate_series(1, 40) c, generate_series(0, 2000) d;
INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, price_usd, market_cap_usd,
                            volume_24h_usd, rank, run_id)
SELECT 'coinpaprika', 'v4-coin-' || c, timestamptz '2026-09-20 00:00+00' + q * interval '15 minutes', c,
       CASE WHEN q % 500 = 0 THEN 'W' || c ELSE 'V' || c END, 'V4 coin ' || c,
       round((random() * 1000)::numeric, 8), NULL, round((random() * 1e7)::numeric, 2), c, 2
FROM generate_series(41, 60) c, generate_series(0, 2999) q;
INSERT INTO raw_coinpaprika (source_id, sha256, payload, run_id)
SELECT 'v4-coin-' || c, sha256(convert_to(p::text, 'UTF8')), p, 2
FROM generate_series(41, 60) c, LATERAL (SELECT jsonb_build_object('id', 'v4-coin-' || c, 'symbol', 'V' || c,
                                                                   'quotes', jsonb_build_object('USD', jsonb_build_object('price', c * 1.5)))) j(p);
INSERT INTO raw_csv (stream, line_no, line, sha256, run_id)
VALUES ('coin_V4.csv', 2, '1,V4 coin 1,V1,02-01-2015 23:59,1,1,1,1,1,1', sha256('x'), 1);
"""


def test_a_v4_database_migrates_in_place(stack):
    name = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", name)
    url = stack.db_url(name)
    stack.etl("migrate", "--to", "4", database=name)
    assert stack.psql("SELECT max(version) FROM schema_migrations", url) == [["4"]]
    stack.psql(V4_FILL, url)
    before = rows_digest(stack, url)
    assert before[0][0] == str(40 * 2001 + 20 * 3000)

    migrate = stack.etl("migrate", database=name)
    # Every migration since version 4 applied (the main database has them all).
    assert stack.psql("SELECT max(version) FROM schema_migrations", url) == stack.psql(
        "SELECT max(version) FROM schema_migrations"), migrate.stderr

    # The same rows, in the new layout, with exact rollups.
    assert rows_digest(stack, url) == before
    # Old years one partition each; 2026 by month while it is this year or last year.
    recent = ["market_records_m202609", "market_records_m202610"] \
        if datetime.datetime.now(datetime.timezone.utc).year <= 2027 else ["market_records_y2026"]
    assert partitions(stack, url) == [f"market_records_y{y}" for y in range(2015, 2021)] + recent
    assert stack.psql("SELECT relkind FROM pg_class WHERE relname = 'market_records'", url) == [["p"]]
    assert rollups_match(stack, url)
    # Rows stored as jsonb before come back as the stored jsonb's text.
    stored = stack.psql("SELECT payload::text FROM raw_coinpaprika_v4 WHERE source_id = 'v4-coin-45'", url)[0][0]
    result = subprocess.run([str(stack.bin_dir / "kasparro-etl"), "raw", "coinpaprika", "v4-coin-45"],
                            env={**stack.env, "PGPASSFILE": stack.pgpass, "DATABASE_URL": url}, capture_output=True, timeout=30)
    assert result.returncode == 0 and result.stdout.decode() == stored
    assert stack.psql("SELECT line FROM raw_csv WHERE stream = 'coin_V4.csv'", url) == [["1,V4 coin 1,V1,02-01-2015 23:59,1,1,1,1,1,1"]]
    # And the new ETL carries on in it.
    stack.etl("run", "--source", "csv", "--source", "coinpaprika", database=name)
    assert rollups_match(stack, url)
    assert int(stack.psql("SELECT count(*) FROM market_records", url)[0][0]) > int(before[0][0])


def test_raw_pages_are_compressed_with_pglz_in_every_partition(stack):
    """Migrations 11 and 12: the parent and every partition, existing or created later, compress with pglz."""
    stack.etl("run", "--source", "coinpaprika")  # makes sure this month's partition exists
    settings = stack.psql("""
        SELECT DISTINCT a.attcompression FROM pg_attribute a
        WHERE a.attname IN ('body', 'ids', 'skeleton', 'numbers') AND (a.attrelid = 'raw_api_pages'::regclass
              OR a.attrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'raw_api_pages'::regclass))""")
    assert settings == [["p"]]
    assert int(stack.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw_api_pages'::regclass")[0][0]) >= 2


def test_hourly_rollup_pages_leave_room_for_updates(stack):
    """Migration 13 (measured in the README: HOT updates 90% -> 99.9% on a 1,000,000-row load)."""
    assert stack.psql("SELECT reloptions FROM pg_class WHERE relname = 'market_counts_hourly'") == [["{fillfactor=50}"]]
