"""Migrations 14 and 17: each source's run, checkpoint, quarantine, record and run-counter totals in one
row (`etl_source_totals`), kept by triggers for every writer, compared with the tables it summarises;
/stats and /metrics read it."""
import json
import uuid


SOURCES = "'{coinpaprika,coingecko,csv}'::text[]"
# What the row must say, counted from the tables themselves.
TRUTH = f"""
SELECT s.source,
  (SELECT count(*) FROM etl_runs r WHERE r.source = s.source),
  (SELECT count(*) FROM etl_runs r WHERE r.source = s.source AND r.status = 'failed'),
  (SELECT coalesce(sum(fetched), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT max(run_id) FROM etl_runs r WHERE r.source = s.source),
  (SELECT max(finished_at) FROM etl_runs r WHERE r.source = s.source AND r.status = 'succeeded'),
  (SELECT max(finished_at) FROM etl_runs r WHERE r.source = s.source AND r.status = 'failed'),
  (SELECT max(run_id) FROM etl_runs r WHERE r.source = s.source AND r.status = 'failed'),
  (SELECT count(*) FROM etl_checkpoints c WHERE c.source = s.source),
  (SELECT count(*) FROM quarantine q WHERE q.source = s.source),
  (SELECT count(*) FROM market_records m WHERE m.source = s.source),
  (SELECT coalesce(sum(inserted), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT coalesce(sum(updated), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT coalesce(sum(unchanged), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT coalesce(sum(quarantined), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT coalesce(sum(retries), 0) FROM etl_runs r WHERE r.source = s.source),
  (SELECT round(coalesce(sum(rate_limit_wait_seconds), 0)::numeric, 6) FROM etl_runs r WHERE r.source = s.source),
  (SELECT count(*) FROM etl_runs r WHERE r.source = s.source AND r.status = 'running'),
  (SELECT max(run_id) FROM etl_runs r WHERE r.source = s.source AND r.finished_at IS NOT NULL),
  (SELECT count(*) FROM schema_drift_events d WHERE d.source = s.source)
FROM unnest({SOURCES}) s(source) ORDER BY 1"""
KEPT = f"""
SELECT s.source, coalesce(runs, 0), coalesce(failed_runs, 0), coalesce(processed, 0), last_run, last_success_at,
       last_failure_at, last_failed_run, coalesce(checkpoints, 0), coalesce(quarantined, 0), coalesce(records, 0),
       coalesce(inserted, 0), coalesce(updated, 0), coalesce(unchanged, 0), coalesce(run_quarantined, 0),
       coalesce(retries, 0), round(coalesce(rate_limit_wait_seconds, 0)::numeric, 6), coalesce(running_runs, 0), last_finished_run,
       coalesce(drift_events, 0)
FROM unnest({SOURCES}) s(source) LEFT JOIN etl_source_totals t USING (source) ORDER BY 1"""
HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r\n"


NAMES = ("source", "runs", "failed_runs", "processed", "last_run", "last_success_at", "last_failure_at",
         "last_failed_run", "checkpoints", "quarantined", "records", "inserted", "updated", "unchanged",
         "run_quarantined", "retries", "rate_limit_wait_seconds", "running_runs", "last_finished_run", "drift_events")


def check(stack, db, step):
    """The kept row equals the count for every source; returns the counts by source and name."""
    kept, truth = stack.psql(KEPT, stack.db_url(db)), stack.psql(TRUTH, stack.db_url(db))
    assert kept == truth, f"after {step}: kept {kept}, counted {truth}"
    return {row[0]: dict(zip(NAMES, row)) for row in truth}


def pick(row, *names):
    return [row[name] for name in names]


def test_totals_follow_every_writer(stack, tmp_path):
    """SYNTHETIC test files: three CSV streams, one record that fails validation."""
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for n in range(3):
        rows = "".join(f"{d + 1},Totals {n},TT{n},{d + 1:02d}-01-2024 23:59,2,1,1,1,1,1\r\n" for d in range(20))
        (csv_dir / f"coin_Totals{n}.csv").write_text(HEADER + rows)
    with open(csv_dir / "coin_Totals1.csv", "a") as f:
        f.write("21,Totals 1,TT1,21-01-2024 23:59,2,1,1,not-a-price,1,1\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir, env={"ETL_BATCH_SIZE": "10"})
    counted = check(stack, db, "a CSV run with a quarantined record")
    assert pick(counted["csv"], "runs", "failed_runs", "processed", "checkpoints", "quarantined", "records") == \
        ["1", "0", "61", "3", "1", "60"]

    # A failed run (injected after some committed batches), and a source that cannot be reached.
    for n in range(3):
        with open(csv_dir / f"coin_Totals{n}.csv", "a") as f:
            f.write("".join(f"{d + 22},Totals {n},TT{n},{d + 1:02d}-02-2024 23:59,2,1,1,1,1,1\r\n" for d in range(20)))
    failed = stack.etl("run", "--source", "csv", "--fail-after", "25", database=db, csv_dir=csv_dir, check=False,
                       env={"ETL_BATCH_SIZE": "10"})
    assert failed.returncode == 2, failed.stderr
    stack.etl("run", "--source", "coingecko", database=db, csv_dir=csv_dir, check=False,
              env={"COINGECKO_BASE_URL": "http://127.0.0.1:1/api/v3", "ETL_HTTP_MAX_ATTEMPTS": "1"})
    counted = check(stack, db, "a failed CSV run and an unreachable source")
    assert counted["csv"]["failed_runs"] == "1" and pick(counted["coingecko"], "runs", "failed_runs") == ["1", "1"]

    # A run left `running` by a killed process is marked failed by the next invocation.
    stack.psql(f"INSERT INTO etl_runs (invocation_id, source, trigger, status, fetched) "
               f"VALUES ('{uuid.uuid4()}', 'coinpaprika', 'test', 'running', 7)", stack.db_url(db))
    check(stack, db, "a run inserted as running")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    counted = check(stack, db, "the orphan marked failed and the CSV run resumed")
    assert pick(counted["coinpaprika"], "runs", "failed_runs", "processed") == ["1", "1", "7"]
    assert pick(counted["csv"], "runs", "failed_runs") == ["3", "1"]

    # An operator's hand: a finished run changed and another deleted, checkpoints deleted and moved,
    # quarantine emptied.
    admin = lambda sql: stack.psql_admin(sql, database=db)
    admin("UPDATE etl_runs SET status = 'succeeded', error = NULL WHERE source = 'coingecko'")
    check(stack, db, "a failed run changed to succeeded")
    admin("DELETE FROM etl_runs WHERE source = 'coinpaprika'")
    check(stack, db, "a run deleted")
    admin("DELETE FROM etl_checkpoints WHERE stream = 'coin_Totals0.csv'")
    admin("UPDATE etl_checkpoints SET source = 'coinpaprika' WHERE stream = 'coin_Totals2.csv'")
    counted = check(stack, db, "checkpoints deleted and moved")
    assert counted["csv"]["checkpoints"] == "1" and counted["coinpaprika"]["checkpoints"] == "1"
    admin("TRUNCATE quarantine")
    check(stack, db, "quarantine truncated")
    run = counted["csv"]["last_run"]
    admin(f"INSERT INTO schema_drift_events (source, run_id, field, kind) VALUES ('csv', {run}, 'a', 'added'), "
          f"('csv', {run}, 'b', 'removed'), ('coingecko', {run}, 'c', 'added')")
    admin("DELETE FROM schema_drift_events WHERE field = 'b'")
    counted = check(stack, db, "drift events inserted and deleted")
    assert counted["csv"]["drift_events"] == "1" and counted["coingecko"]["drift_events"] == "1"
    admin("DELETE FROM market_records WHERE source_id = (SELECT min(source_id) FROM market_records)")
    admin("UPDATE market_records SET observed_at = observed_at - interval '1 hour' WHERE observed_at < '2024-01-10'")
    counted = check(stack, db, "market records deleted and moved to other hours")
    assert int(counted["csv"]["records"]) < 120
    admin("TRUNCATE etl_runs CASCADE")
    counted = check(stack, db, "every run truncated (with the checkpoints and quarantine that refer to them)")
    assert all(pick(row, "runs", "failed_runs", "processed", "last_run", "checkpoints", "quarantined") == ["0", "0", "0", "", "0", "0"]
               for row in counted.values())
    admin("TRUNCATE market_records, market_counts_hourly, market_counts_monthly")
    counted = check(stack, db, "market records and their rollups truncated")
    assert counted["csv"]["records"] == "0"


def test_stats_reads_the_totals(stack, tmp_path, responder):
    """/stats shows what etl_source_totals keeps: the figures it used to aggregate from every run."""
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "coin_StatsA.csv").write_text(HEADER + "1,Stats A,STA,01-01-2024 23:59,2,1,1,1,1,1\r\n"
                                             "2,Stats A,STA,02-01-2024 23:59,2,1,1,bad,1,1\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    stack.etl("run", "--source", "coingecko", database=db, csv_dir=csv_dir, check=False,
              env={"COINGECKO_BASE_URL": "http://127.0.0.1:1/api/v3", "ETL_HTTP_MAX_ATTEMPTS": "1"})
    counted = check(stack, db, "a CSV run and a failed CoinGecko run")
    status, _, body = responder(database=db).get("/stats")
    assert status == 200, body
    stats = json.loads(body)
    csv, gecko = stats["sources"]["csv"], stats["sources"]["coingecko"]
    assert (csv["runs"], csv["failed_runs"], csv["records_processed"], csv["quarantined"], csv["checkpoints_total"]) == \
        (1, 0, 2, 1, 1)
    assert (gecko["runs"], gecko["failed_runs"]) == (1, 1) and stats["sources"]["coinpaprika"]["runs"] == 0
    assert stats["records_processed_total"] == 2 and stats["records_total"] == 1
    error = stack.psql(f"SELECT error FROM etl_runs WHERE run_id = {counted['coingecko']['last_failed_run']}", stack.db_url(db))[0][0]
    assert stats["last_error"] == error and "connect" in error
    assert stats["last_failure_at"] is not None and stats["last_success_at"] == csv["last_success_at"]


def test_a_v13_database_gets_its_totals_counted(stack):
    """Runs, checkpoints and quarantined records written before migration 14 are counted by it."""
    name = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", name)
    stack.etl("migrate", "--to", "13", database=name)
    stack.psql("""
        INSERT INTO etl_runs (invocation_id, source, trigger, status, finished_at, fetched, error)
        SELECT gen_random_uuid(), s, 'test', CASE WHEN k % 3 = 0 THEN 'failed' ELSE 'succeeded' END,
               timestamptz '2026-01-01' + k * interval '1 hour', k, CASE WHEN k % 3 = 0 THEN 'SYNTHETIC' END
        FROM unnest('{coinpaprika,csv}'::text[]) s, generate_series(1, 10) k;
        INSERT INTO etl_checkpoints (source, stream, position, run_id)
        SELECT 'csv', 'stream-' || k, k, (SELECT max(run_id) FROM etl_runs) FROM generate_series(1, 4) k;
        INSERT INTO quarantine (source, stream, locator, raw, reason, run_id)
        SELECT 'coinpaprika', 'tickers', 'row-' || k, '{}', 'SYNTHETIC', (SELECT min(run_id) FROM etl_runs)
        FROM generate_series(1, 3) k""", stack.db_url(name))
    stack.etl("migrate", database=name)
    counted = check(stack, name, "migration 14")
    assert pick(counted["csv"], "runs", "failed_runs", "processed", "checkpoints") == ["10", "3", "55", "4"]
    assert counted["coinpaprika"]["quarantined"] == "3" and counted["coinpaprika"]["last_run"] != ""
    assert counted["csv"]["records"] == "0"


def test_metrics_reads_the_totals(stack, tmp_path, responder):
    """/metrics exports each source's run counters from its row of etl_source_totals (migration 17),
    not from a sum over every run: equal to the runs' sums, and a hand-made change to the row shows."""
    db = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "coin_MetricsA.csv").write_text(HEADER + "1,Metrics A,MTA,01-01-2024 23:59,2,1,1,1,1,1\r\n"
                                               "2,Metrics A,MTA,02-01-2024 23:59,2,1,1,bad,1,1\r\n")
    stack.etl("run", "--source", "csv", database=db, csv_dir=csv_dir)
    stack.etl("run", "--source", "coinpaprika", database=db, csv_dir=csv_dir)
    stack.etl("run", "--source", "coinpaprika", database=db, csv_dir=csv_dir)
    counted = check(stack, db, "two sources run")
    api = responder(database=db)

    def metric(text: str, name: str, **labels) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        line = next(l for l in text.splitlines() if l.startswith(f"{name}{{{wanted}}} "))
        return float(line.rsplit(" ", 1)[1])

    status, _, text = api.get("/metrics")
    assert status == 200, text
    for source in ("csv", "coinpaprika"):
        row = counted[source]
        assert metric(text, "kasparro_etl_records_fetched_total", source=source) == float(row["processed"])
        assert metric(text, "kasparro_etl_records_inserted_total", source=source) == float(row["inserted"])
        assert metric(text, "kasparro_etl_records_unchanged_total", source=source) == float(row["unchanged"])
        assert metric(text, "kasparro_etl_records_quarantined_total", source=source) == float(row["run_quarantined"])
        assert metric(text, "kasparro_etl_runs_total", source=source, status="succeeded") == \
            float(int(row["runs"]) - int(row["failed_runs"]) - int(row["running_runs"]))
    assert metric(text, "kasparro_etl_records_quarantined_total", source="csv") == 1
    assert metric(text, "kasparro_etl_records_unchanged_total", source="coinpaprika") == 3795
    assert metric(text, "kasparro_etl_last_run_duration_seconds", source="coinpaprika") > 0
    stack.psql_admin("UPDATE etl_source_totals SET retries = 4242, drift_events = 7 WHERE source = 'csv'", database=db)
    status, _, text = api.get("/metrics")
    assert metric(text, "kasparro_etl_http_retries_total", source="csv") == 4242
    assert metric(text, "kasparro_etl_schema_drift_events_total", source="csv") == 7
