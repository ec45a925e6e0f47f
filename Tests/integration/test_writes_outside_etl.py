"""Migration 18: writes outside the ETL — an operator's UPDATE or DELETE, a TRUNCATE of the table or of
one partition — advance the data version once per transaction and keep the rollups exact, so a
responder's cached pages and totals follow at once; the ETL's batch still advances it by one, and a
statement that changes nothing by none. Every partition, old and new, is vacuumed every 10,000
inserted rows, and a closed one once more after its last rows. The ETL refuses to write to a database behind its schema."""
import datetime
import json
import uuid

from conftest import LATEST_MIGRATION, wait_for
from test_totals import rollups_match

HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r\n"
DAYS = ["15-06-2024", "10-01-2026", "11-01-2026", "05-02-2026", "06-02-2026"]  # 2024 is a yearly partition


def write_csv(directory, coins=("Alpha", "Beta")):
    """SYNTHETIC test files: one row a day for each coin."""
    directory.mkdir(exist_ok=True)
    for coin in coins:
        rows = "".join(f"{i + 1},{coin} Coin,{coin[:3].upper()},{day} 23:59,2,1,1,{i + 1}.5,10,100\r\n"
                       for i, day in enumerate(DAYS))
        (directory / f"coin_{coin}.csv").write_text(HEADER + rows)


def one(stack, url, sql):
    return stack.psql(sql, url)[0][0]


def served(api, query="page_size=1"):
    status, _, body = api.get("/data", query)
    assert status == 200, body
    return json.loads(body)


def test_every_writer_advances_the_version_once_and_keeps_totals(stack, tmp_path, responder):
    db = stack.fresh_database()
    url = stack.db_url(db)
    csv_dir = tmp_path / "csv"
    write_csv(csv_dir)
    version = lambda: int(one(stack, url, "SELECT version FROM data_version"))
    before = version()
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir, env={"ETL_BATCH_SIZE": "1000"})
    assert version() == before + 1, "one batch, one version"
    api = responder(database=db)
    assert served(api)["total"] == 10
    assert served(api, "symbol=alp&page_size=10")["total"] == 5  # cached from here on

    # An operator's UPDATE: the page changes at once, the version by one for a two-statement transaction.
    before = version()
    stack.psql_admin("BEGIN; UPDATE market_records SET price_usd = 42 WHERE symbol = 'ALP';"
                     "UPDATE market_records SET volume_24h_usd = 7 WHERE symbol = 'ALP'; COMMIT", database=db)
    assert version() == before + 1
    assert wait_for(lambda: {r["price_usd"] for r in served(api, "symbol=alp&page_size=10")["data"]} == {42}, timeout=2)
    # A statement that changes no row changes no version.
    stack.psql_admin("UPDATE market_records SET price_usd = 1 WHERE false; DELETE FROM market_records WHERE false", database=db)
    assert version() == before + 1

    # DELETE: the totals follow.
    stack.psql_admin("DELETE FROM market_records WHERE symbol = 'BET' AND observed_at < '2025-01-01'", database=db)
    assert version() == before + 2
    assert wait_for(lambda: served(api)["total"] == 9, timeout=2)
    assert rollups_match(stack, url)

    # TRUNCATE of one partition (fires only that partition's triggers): its months leave the rollups.
    stack.psql_admin("TRUNCATE market_records_m202601", database=db)
    assert version() == before + 3
    assert rollups_match(stack, url)
    assert wait_for(lambda: served(api)["total"] == 5, timeout=2)
    assert served(api, "symbol=alp&page_size=10")["total"] == 3
    status, _, body = api.get("/stats")
    assert status == 200 and json.loads(body)  # /stats answers from the kept totals
    assert one(stack, url, "SELECT records FROM etl_source_totals WHERE source = 'csv'") == "5"

    # TRUNCATE of the whole table.
    stack.psql_admin("TRUNCATE market_records", database=db)
    assert version() == before + 4
    assert rollups_match(stack, url)
    assert one(stack, url, "SELECT count(*) FROM market_counts_hourly WHERE n <> 0") == "0"
    assert wait_for(lambda: served(api)["total"] == 0, timeout=2)
    assert served(api)["data"] == []
    assert one(stack, url, "SELECT records FROM etl_source_totals WHERE source = 'csv'") == "0"


def test_partitions_are_vacuumed_every_ten_thousand_rows(stack, tmp_path):
    """Partitions made before migration 18 get the settings and the TRUNCATE trigger from it; those
    made after, from the new kasparro_ensure_partition."""
    db = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", db)
    stack.etl("migrate", "--to", "17", database=db)
    url = stack.db_url(db)
    stack.psql("SELECT kasparro_ensure_partition('market_records', 'market_records', '2026-03-10', NULL);"
               "SELECT kasparro_ensure_partition('raw_api_pages', 'raw_api_pages', '2026-03-10', NULL);"
               "INSERT INTO market_records (observed_at, asset_id, run_id, source, source_id, symbol, name) "
               "VALUES ('2026-03-10', 1, 1, 'csv', 'x', 'X', 'X')", url)
    stack.etl("migrate", database=db)
    csv_dir = tmp_path / "csv"
    write_csv(csv_dir)
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    settings = stack.psql("""
        SELECT c.relname, coalesce(array_to_string(c.reloptions, ' '), ''),
               EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'market_records_truncate')
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('market_records'::regclass, 'raw_api_pages'::regclass) ORDER BY 1""", url)
    names = [name for name, *_ in settings]
    assert {"market_records_m202603", "raw_api_pages_m202603", "market_records_y2024", "market_records_m202601"} <= set(names)
    for name, options, trigger in settings:
        assert options == "autovacuum_vacuum_insert_threshold=10000 autovacuum_vacuum_insert_scale_factor=0", name
        assert trigger == ("t" if name.startswith("market_records") else "f"), name
    stack.psql_admin("TRUNCATE market_records_m202603", database=db)
    assert rollups_match(stack, url)


def test_a_closed_month_is_vacuumed_once_after_its_last_rows(stack, tmp_path):
    """Fewer than 10,000 rows never wake autovacuum: after a run the ETL vacuums (and analyzes)
    every partition whose range has ended and that has rows inserted since its last vacuum, so an
    index-only count of a closed month fetches no heap page; the open month is left to autovacuum,
    and a closed month is vacuumed again only when late rows land in it."""
    db = stack.fresh_database()
    url = stack.db_url(db)
    csv_dir = tmp_path / "csv"
    write_csv(csv_dir)
    today = datetime.date.today()
    with open(csv_dir / "coin_Alpha.csv", "a") as f:  # SYNTHETIC: a row in the open month
        f.write(f"9,Alpha Coin,ALP,{today:%d-%m-%Y} 00:01,2,1,1,9.5,10,100\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    stats = lambda: {name: (int(inserted), vacuumed) for name, inserted, vacuumed in stack.psql("""
        SELECT s.relname, s.n_ins_since_vacuum, coalesce(s.last_vacuum::text, '')
        FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
        WHERE i.inhparent = 'market_records'::regclass""", url)}
    first = stats()
    current = f"market_records_m{today:%Y%m}"
    closed = {"market_records_y2024", "market_records_m202601", "market_records_m202602"}
    for name in closed:
        assert first[name][0] == 0 and first[name][1], (name, first[name])
    assert first[current][0] > 0 and not first[current][1], first[current]  # open: autovacuum's
    # Four rows would be read sequentially; the API's counts are index-only at any size.
    plan = stack.psql("SET enable_seqscan = off; SET enable_bitmapscan = off; "
                      "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM market_records "
                      "WHERE observed_at >= '2026-01-01' AND observed_at < '2026-02-01'", url)
    fetches = [int(line[0].split("Heap Fetches:")[1]) for line in plan if "Heap Fetches:" in line[0]]
    assert fetches and sum(fetches) == 0, plan
    # Nothing new: nothing vacuumed again.
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert {name: stats()[name][1] for name in closed} == {name: first[name][1] for name in closed}
    # A late row in January: January once more, the others not.
    with open(csv_dir / "coin_Beta.csv", "a") as f:
        f.write("6,Beta Coin,BET,20-01-2026 23:59,2,1,1,6.5,10,100\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    after = stats()
    assert after["market_records_m202601"][1] > first["market_records_m202601"][1]
    assert after["market_records_m202602"][1] == first["market_records_m202602"][1]


def test_the_etl_refuses_a_database_behind_its_schema(stack, tmp_path):
    db = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", db)
    stack.etl("migrate", "--to", "17", database=db)
    csv_dir = tmp_path / "csv"
    write_csv(csv_dir)
    for command in (["run", "--source", "csv"], ["retention"], ["assets", "list"]):
        result = stack.etl(*command, database=db, csv_dir=csv_dir, check=False, env={"RETENTION_MARKET_MONTHS": "12"})
        assert result.returncode == 1, (command, result.stderr)
        assert "run `kasparro-etl migrate` first" in result.stderr and f'"needed_version":"{LATEST_MIGRATION}"' in result.stderr, result.stderr
    assert one(stack, stack.db_url(db), "SELECT count(*) FROM etl_runs") == "0"
