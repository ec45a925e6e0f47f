"""Each /data filter is answered through its own index (checked in pg_stat_user_indexes, summed over
the partitions: each partition's copy of a parent index is named after its columns). The source
filter is CoinPaprika's, whose rows lie in one old partition: for `csv` and `coingecko`, most rows
of the partitions a first page reads, the key index read backwards with the source as an index
condition needs no sort, and the planner takes it on the data a default run lays down (with
`ETL_BATCH_SIZE=1000` it had still chosen the source index for `csv`): the cheaper plan for them."""
import json
import uuid

from conftest import wait_for

CASES = [({"symbol": "xrp"}, "_symbol_observed_at_idx"), ({"asset_id": 3}, "_asset_id_observed_at_idx"),
         ({"source": "coinpaprika"}, "_source_observed_at_idx"), ({}, "_observed_at_source_source_id_idx")]


def index_scans(stack):
    rows = stack.psql("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes "
                      "WHERE relname LIKE 'market\\_records\\_%'")
    return {suffix: sum(int(n) for name, n in rows if name.endswith(suffix)) for _, suffix in CASES}


def test_each_filter_uses_its_index(stack):
    before = index_scans(stack)
    for i, (params, _) in enumerate(CASES):
        # An `until` no other request used keeps the page out of the cache.
        r = stack.get("/data", params={**params, "until": f"2031-02-0{i + 1}T00:00:00Z"})
        assert r.status_code == 200
    # Backends publish their statistics within about ten seconds of going idle.
    grown = lambda: [suffix for _, suffix in CASES if index_scans(stack)[suffix] > before[suffix]]
    assert wait_for(lambda: len(grown()) == len(CASES), timeout=20, interval=0.5), f"indexes used: {grown()}"


def test_a_source_without_rows_is_read_through_the_source_index(stack, responder):
    """A source filter names the source in the statement's text, so the planner sees that a source
    has no rows and reads the source index, instead of walking the key index through every row."""
    name = stack.fresh_database()
    url = stack.db_url(name)
    # SYNTHETIC: 300,000 rows of one source in one month, analyzed (a generic plan then expects a
    # third of them for any bound source and walks the key index).
    stack.psql("""
        SELECT kasparro_ensure_partition('market_records', 'market_records', '2026-05-01', NULL);
        INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, run_id)
        SELECT 'csv', 'synthetic-' || (k % 300), timestamptz '2026-05-01' + (k / 300) * interval '15 minutes',
               1 + k % 300, 'SYN', 'SYNTHETIC', 0
        FROM generate_series(1, 300000) k;
        ANALYZE market_records;""", url)
    scans = lambda suffix: sum(int(n) for _, n in stack.psql(
        f"SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname LIKE 'market\\_records\\_%' "
        f"AND indexrelname LIKE '%{suffix}'", url))
    before_key, before_source = scans("_observed_at_source_source_id_idx"), scans("_source_observed_at_idx")
    api = responder(database=name)
    status, _, body = api.get("/data", "source=coingecko")
    assert status == 200 and json.loads(body)["total"] == 0 and json.loads(body)["data"] == []
    assert wait_for(lambda: scans("_source_observed_at_idx") > before_source, timeout=20, interval=0.5)
    assert scans("_observed_at_source_source_id_idx") == before_key, "the key index was walked for a source with no rows"


def test_a_page_past_the_end_reads_no_key(stack, responder):
    """A deep page beyond the total is empty at once: the exact total decides before the key index
    is walked (a walk of `offset` keys that are not there reaches the statement timeout at scale)."""
    name = stack.fresh_database()
    stack.etl("run", "--source", "csv", database=name)
    url = stack.db_url(name)
    # Every scan of a partition, sequential or by any index (a small table may be sorted, not walked).
    key_scans = lambda: int(stack.psql(
        "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables "
        "WHERE relname LIKE 'market\\_records\\_%'", url)[0][0])
    api = responder(database=name, threads=1)  # one backend: its statistics are flushed in order
    total = json.loads(api.get("/data", "page_size=1")[2])["total"]
    assert wait_for(lambda: key_scans() > 0, timeout=20, interval=0.5)

    def control(offset: int) -> int:
        """The scans of one deep page that does read the partitions (5 rows before the end)."""
        before = key_scans()
        status, _, body = api.get("/data", f"limit=5&offset={offset}")
        assert status == 200 and len(json.loads(body)["data"]) == 5
        assert wait_for(lambda: key_scans() > before, timeout=20, interval=0.5)
        return key_scans() - before

    alone = control(total - 5)
    before = key_scans()
    for query in (f"limit=5&offset={total}", "limit=5&offset=100000000", "page=1000000&page_size=500"):
        status, _, body = api.get("/data", query)
        assert status == 200 and json.loads(body)["data"] == [] and json.loads(body)["total"] == total, (query, body)
    status, _, body = api.get("/data", f"limit=5&offset={total - 6}")
    assert status == 200 and len(json.loads(body)["data"]) == 5
    assert wait_for(lambda: key_scans() > before, timeout=20, interval=0.5)
    assert key_scans() - before == alone, "the pages past the end read partitions (only the control's scans may count)"


def test_a_symbol_edge_is_counted_from_the_index_alone(stack):
    """Migration 16: symbols are indexed as stored, so the partial month at a since/until edge of a
    symbol filter is an index-only scan (no heap fetch once the visibility map is set), with the
    condition the API writes."""
    stack.psql_admin("VACUUM market_records")
    plan = "\n".join(r[0] for r in stack.psql(
        "SET max_parallel_workers_per_gather = 0; EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM market_records m "
        "WHERE m.symbol = upper('btc') "
        "AND m.observed_at >= '2020-03-05T07:00:00Z' AND m.observed_at < '2020-04-01'"))
    assert "Index Only Scan using market_records_" in plan and "_symbol_observed_at_idx" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    assert int(stack.psql("SELECT count(*) FROM market_records WHERE upper(symbol) = 'BTC' "
                          "AND observed_at >= '2020-03-05T07:00:00Z' AND observed_at < '2020-04-01'")[0][0]) > 0


def test_migrations_15_and_16_mend_lower_case_symbols_and_swap_the_index(stack, responder):
    """A row stored with a lower-case symbol before migration 15 (by hand: the ETL never did) is
    upper-cased by it, still counted right by the rollup and found by the API's condition; from
    then on the constraint refuses such a row; migration 16 leaves one symbol index, on `symbol`,
    which answers a symbol filter in any case."""
    name = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", name)
    stack.etl("migrate", "--to", "14", database=name)
    stack.psql("""
        SELECT kasparro_ensure_partition('market_records', 'market_records', '2026-05-01', NULL);
        INSERT INTO assets (symbol, name) VALUES ('ABC', 'SYNTHETIC');
        INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, run_id)
        SELECT 'csv', 'synthetic-' || k, timestamptz '2026-05-01' + k * interval '1 day',
               (SELECT max(asset_id) FROM assets), CASE WHEN k % 2 = 0 THEN 'abc' ELSE 'ABC' END, 'SYNTHETIC', 0
        FROM generate_series(1, 6) k;
        INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, run_id)
        SELECT 'csv', 'synthetic-xyz', timestamptz '2026-05-01' + k * interval '1 hour',
               (SELECT max(asset_id) FROM assets), 'XYZ', 'SYNTHETIC', 0
        FROM generate_series(1, 4) k""", stack.db_url(name))
    stack.etl("migrate", database=name)
    api = responder(database=name)
    status, _, body = api.get("/data", "symbol=xYz&since=2026-05-01T00:00:00Z")
    assert status == 200, body
    assert json.loads(body)["total"] == 4 and len(json.loads(body)["data"]) == 4
    url = stack.db_url(name)
    assert stack.psql("SELECT DISTINCT symbol FROM market_records ORDER BY 1", url) == [["ABC"], ["XYZ"]]
    assert stack.psql("SELECT count(*) FROM market_records WHERE symbol = upper('abc') AND upper(symbol) = upper('abc')",
                      url) == [["6"]]
    assert stack.psql("SELECT symbol, sum(n) FROM market_counts_monthly GROUP BY 1 ORDER BY 1", url) == [["ABC", "6"], ["XYZ", "4"]]
    refused = stack.psql("""INSERT INTO market_records (source, source_id, observed_at, asset_id, symbol, name, run_id)
                            VALUES ('csv', 'synthetic-x', '2026-05-20', (SELECT max(asset_id) FROM assets), 'abc', 'SYNTHETIC', 0)""",
                         url, check=False)
    assert refused.returncode != 0 and "market_records_symbol_upper" in refused.stderr, refused.stderr
    definitions = [r[0] for r in stack.psql(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'market_records' AND indexdef LIKE '%symbol%'", url)]
    assert definitions == ["CREATE INDEX market_records_by_symbol ON ONLY public.market_records USING btree (symbol, observed_at)"], definitions
    # On the parent and on every partition (a partition created later inherits it), checked.
    assert stack.psql("""SELECT count(*), bool_and(convalidated) FROM pg_constraint
                         WHERE conname = 'market_records_symbol_upper'""", url) == \
        stack.psql("SELECT 1 + count(*), true FROM pg_inherits WHERE inhparent = 'market_records'::regclass", url)
    stack.psql("SELECT kasparro_ensure_partition('market_records', 'market_records', '2026-07-01', NULL)", url)
    assert stack.psql("""SELECT c.convalidated FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                         WHERE c.conname = 'market_records_symbol_upper' AND t.relname = 'market_records_m202607'""", url) == [["t"]]
