"""Each /data filter is answered through its own index (checked in pg_stat_user_indexes, summed over
the partitions: each partition's copy of a parent index is named after its columns)."""
from conftest import wait_for

CASES = [({"symbol": "xrp"}, "_upper_observed_at_idx"), ({"asset_id": 3}, "_asset_id_observed_at_idx"),
         ({"source": "csv"}, "_source_observed_at_idx"), ({}, "_observed_at_source_source_id_idx")]


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
