"""The CSV source against a real PostgreSQL: quirks, quarantine, incremental runs, exactly-once resume."""
import os
import pathlib
import signal
import time

from conftest import wait_for

HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r\n"
# Hand-written rows in the shape of the real files: CRLF, DD-MM-YYYY HH:MM, e-notation, volume 0.
GOOD = [
    "1,Dogecoin,DOGE,16-12-2013 23:59,0.000866,0.000150,0.000299,0.000205,0,1509085\r\n",
    "2,Dogecoin,DOGE,17-12-2013 23:59,0.000289,0.000116,0.000207,9.86E-05,0,6.32696E+11\r\n",
    "3,Dogecoin,DOGE,18-12-2013 23:59,0.000362,0.000112,0.000267,0.000268,0,3.84E-18\r\n",
]
BAD = "4,Dogecoin,DOGE,19-12-2013 23:59,1,1,1,not-a-price,0,1\r\n"
MORE = [
    "5,Dogecoin,DOGE,20-12-2013 23:59,0.0003,0.0002,0.0002,0.000240,12,2000000\r\n",
    "6,Dogecoin,DOGE,21-12-2013 23:59,0.0003,0.0002,0.0002,0.000250,13,2100000\r\n",
]


def write_csv(directory: pathlib.Path, name: str, lines) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes((HEADER + "".join(lines)).encode())
    return path


def run_row(stack, db, run_id=None):
    where = f"WHERE run_id = {run_id}" if run_id else "ORDER BY run_id DESC LIMIT 1"
    row = stack.psql(f"SELECT status, fetched, inserted, unchanged, quarantined, coalesce(error, '') FROM etl_runs {where}",
                     stack.db_url(db))[0]
    return {"status": row[0], "fetched": int(row[1]), "inserted": int(row[2]), "unchanged": int(row[3]),
            "quarantined": int(row[4]), "error": row[5]}


def test_quirks_quarantine_and_incremental_runs(stack, tmp_path):
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    path = write_csv(csv_dir, "coin_Dogecoin.csv", GOOD + [BAD])

    first = stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert "inserted 3" in first.stdout
    assert run_row(stack, db) == {"status": "succeeded", "fetched": 4, "inserted": 3, "unchanged": 0,
                                  "quarantined": 1, "error": ""}
    # Numbers arrive digit for digit as NUMERIC.
    values = stack.psql("SELECT price_usd::text, market_cap_usd::text, volume_24h_usd::text FROM market_records "
                        "ORDER BY observed_at", stack.db_url(db))
    assert values[1] == ["0.0000986", "632696000000", "0"]
    assert values[2][1] == "0.00000000000000000384"
    # The malformed row is kept, with its reason and the raw line; every line is in raw_csv.
    quarantined = stack.psql("SELECT locator, reason, raw FROM quarantine", stack.db_url(db))
    assert quarantined == [["line 5", 'Close: not a number: "not-a-price"', BAD.strip()]]
    assert stack.psql("SELECT count(*), count(DISTINCT line) FROM raw_csv", stack.db_url(db)) == [["4", "4"]]

    second = stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert "nothing new" in second.stdout
    assert run_row(stack, db)["fetched"] == 0 and run_row(stack, db)["inserted"] == 0

    # Appended lines are all the next run reads; a half-written last line waits for its newline.
    with open(path, "ab") as f:
        f.write("".join(MORE).encode())
        f.write(b"7,Dogecoin,DOGE,22-12-2013 23:59,0.0003,0.0002,0.0002,0.00026")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert run_row(stack, db) | {} == {"status": "succeeded", "fetched": 2, "inserted": 2, "unchanged": 0,
                                       "quarantined": 0, "error": ""}
    with open(path, "ab") as f:
        f.write(b"0,14,2200000\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert run_row(stack, db)["inserted"] == 1
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["6"]]
    checkpoint = stack.psql("SELECT position, line_no FROM etl_checkpoints WHERE stream = 'coin_Dogecoin.csv'", stack.db_url(db))
    assert checkpoint == [[str(path.stat().st_size), "8"]]


def test_real_samples_load_into_one_asset_per_coin(stack):
    counts = stack.psql("SELECT symbol, count(*) FROM market_records WHERE source = 'csv' GROUP BY symbol ORDER BY symbol")
    assert dict((s, int(n)) for s, n in counts) == {"BNB": 1442, "BTC": 2991, "DOGE": 2760, "ETH": 2160,
                                                     "XEM": 2288, "XLM": 2527, "XRP": 2893}
    assert stack.psql("SELECT count(DISTINCT asset_id) FROM asset_sources WHERE source = 'csv'") == [["7"]]
    assert stack.psql("SELECT count(*) FROM quarantine WHERE source = 'csv'") == [["0"]]


def table_digest(stack, db, sources=("csv",)):
    # Asset ids are left out (a killed transaction may have used sequence values); the asset's
    # symbol and name stand for the grouping.
    return stack.psql("SELECT count(*), md5(string_agg(concat_ws('|', m.source, m.source_id, m.observed_at, a.symbol, a.name, "
                      "m.price_usd, m.market_cap_usd, m.volume_24h_usd, m.rank), ',' ORDER BY m.source, m.source_id, m.observed_at)) "
                      f"FROM market_records m JOIN assets a USING (asset_id) WHERE m.source = ANY('{{{','.join(sources)}}}')",
                      stack.db_url(db))[0]


def test_fail_after_then_resume_equals_an_uninterrupted_run(stack):
    reference = table_digest(stack, "kasparro")
    db = stack.fresh_database()
    failed = stack.etl("run", "--source", "csv", "--fail-after", "2500", database=db, check=False,
                       env={"ETL_BATCH_SIZE": "1000"})
    assert failed.returncode == 2, failed.stderr
    run = run_row(stack, db)
    assert run["status"] == "failed" and "injected failure after 2500" in run["error"]
    # Whole batches commit with their checkpoints: a batch reads the 7 files side by side, 1000 // 7
    # lines from each, so two batches (1,988 rows) commit and the third would pass 2,500.
    files = len(list(stack.csv_dir.glob("*.csv")))
    assert run["fetched"] == 2 * files * (1000 // files) == 1988
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == [["1988"]]
    # Every file's checkpoint stands where its committed lines end.
    assert stack.psql("SELECT count(*), min(line_no), max(line_no) FROM etl_checkpoints WHERE source = 'csv'",
                      stack.db_url(db)) == [[str(files), str(1 + 2 * (1000 // files)), str(1 + 2 * (1000 // files))]]
    # The environment variable works the same way.
    stack.etl("run", database=db, check=False, env={"ETL_FAIL_AFTER_N_RECORDS": "100", "ETL_BATCH_SIZE": "50"})
    assert run_row(stack, db)["status"] == "failed"
    stack.etl("run", "--source", "csv", database=db)
    assert table_digest(stack, db) == reference


def test_kill_9_mid_run_then_resume_equals_an_uninterrupted_run(stack):
    reference = table_digest(stack, "kasparro")
    db = stack.fresh_database()
    for threshold in (1500, 9000):
        process = stack.etl("run", "--source", "csv", database=db, wait=False, env={"ETL_BATCH_SIZE": "100"})
        committed = wait_for(lambda: int(stack.psql("SELECT count(*) FROM market_records", stack.db_url(db))[0][0]) >= threshold,
                             timeout=60, interval=0.01)
        assert committed, "the ETL did not reach the kill point"
        process.send_signal(signal.SIGKILL)
        process.wait()
        # The killed client's backend ends (and frees the invocation lock) only once it reads the
        # closed socket; a run started before that exits 75, "another ETL invocation is running".
        assert wait_for(lambda: stack.psql(f"SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                           f"WHERE l.locktype = 'advisory' AND d.datname = '{db}'") == [["0"]],
                        timeout=30, interval=0.05), "the killed run's session still holds the invocation lock"
    stack.etl("run", "--source", "csv", database=db)
    assert table_digest(stack, db) == reference
    # The killed runs are recorded as failed (interrupted), the last one succeeded.
    statuses = [r[0] for r in stack.psql("SELECT status FROM etl_runs ORDER BY run_id", stack.db_url(db))]
    assert statuses == ["failed", "failed", "succeeded"]
    assert "interrupted" in stack.psql("SELECT error FROM etl_runs ORDER BY run_id LIMIT 1", stack.db_url(db))[0][0]


def test_status_command_prints_a_table(stack):
    out = stack.etl("status").stdout
    assert "csv" in out and "succeeded" in out and "coin_Bitcoin.csv" in out


def test_missing_csv_directory_fails_the_source_cleanly(stack, tmp_path):
    db = stack.fresh_database()
    result = stack.etl("run", "--source", "csv", database=db, csv_dir=tmp_path / "missing", check=False)
    assert result.returncode == 2
    assert run_row(stack, db)["status"] == "failed"


def test_a_file_rewritten_in_place_is_read_again(stack, tmp_path):
    """Same header, same inode, an edit above the checkpoint: the next run reads the file again
    (the edited row is updated, nothing is duplicated); and a rewrite that leaves the old offset in
    the middle of a line is not read from there."""
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    path = csv_dir / "coin_BinanceCoin.csv"
    lines = (stack.csv_dir / "coin_BinanceCoin.csv").read_text().splitlines(keepends=True)
    path.write_text("".join(lines))
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    rows = stack.psql("SELECT count(*) FROM market_records", stack.db_url(db))
    price = lambda: stack.psql("SELECT price_usd::text FROM market_records ORDER BY observed_at LIMIT 1",
                               stack.db_url(db))
    assert price() == [["0.105137996"]]
    # An edit of the first data row, written over the same file (same inode, same length).
    fields = lines[1].split(",")
    fields[7] = "0.205137996"
    edited = lines[:]
    edited[1] = ",".join(fields)
    with open(path, "r+") as f:
        f.write("".join(edited))
        f.truncate()
    again = stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert "rewritten above its checkpoint" in again.stderr
    assert price() == [["0.205137996"]], "the edited row is read again"
    assert stack.psql("SELECT updated FROM etl_runs ORDER BY run_id DESC LIMIT 1", stack.db_url(db)) == [["1"]]
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == rows
    # A longer early line: the old checkpoint (the old end) now falls inside the last line.
    assert ",344499," in edited[2]
    edited[2] = edited[2].replace(",344499,", ",344499.0,")
    path.write_text("".join(edited))
    third = stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    assert "rewritten above its checkpoint" in third.stderr
    assert run_row(stack, db)["quarantined"] == 0, "no half line read from the old offset"
    assert stack.psql("SELECT count(*) FROM market_records", stack.db_url(db)) == rows
