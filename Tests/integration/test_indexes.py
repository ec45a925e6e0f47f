"""Each /data filter is answered through its own index (checked in pg_stat_user_indexes)."""
from conftest import wait_for

CASES = [({"symbol": "xrp"}, "market_records_symbol"), ({"asset_id": 3}, "market_records_asset"),
         ({"source": "csv"}, "market_records_source"), ({}, "market_records_order")]


def index_scans(stack):
    return {name: int(n) for name, n in stack.psql(
        "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname = 'market_records'")}


def test_each_filter_uses_its_index(stack):
    before = index_scans(stack)
    for i, (params, _) in enumerate(CASES):
        # An `until` no other request used keeps the page out of the cache.
        r = stack.get("/data", params={**params, "until": f"2031-02-0{i + 1}T00:00:00Z"})
        assert r.status_code == 200
    # Backends publish their statistics within about ten seconds of going idle.
    grown = lambda: [index for _, index in CASES if index_scans(stack)[index] > before[index]]
    assert wait_for(lambda: len(grown()) == len(CASES), timeout=20, interval=0.5), f"indexes used: {grown()}"
