// Migration 14: each source's record, run, checkpoint and quarantine totals in one row. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v014 = Migration(version: 14, name: "each source's record, run, checkpoint and quarantine totals in one row", sql: #"""
    -- /stats aggregated every run on every call, and a year at the default schedule is 70,000
    -- runs (and 26,000 hourly rollup rows). One row per source now holds what it showed, kept
    -- by triggers in the writers' own transactions (like the rollups): a run's insert and its
    -- progress add their difference; the rare change to a finished run, a deleted run or a
    -- TRUNCATE counts that source again. `last_run` also spares /stats and /health a search of
    -- every run for a source's latest (a source that has not run for a while is a scan).
    CREATE TABLE etl_source_totals (
      source           text PRIMARY KEY,
      runs             bigint NOT NULL DEFAULT 0,
      failed_runs      bigint NOT NULL DEFAULT 0,
      processed        bigint NOT NULL DEFAULT 0,
      last_run         bigint,
      last_success_at  timestamptz,
      last_failure_at  timestamptz,
      last_failed_run  bigint,
      checkpoints      bigint NOT NULL DEFAULT 0,
      quarantined      bigint NOT NULL DEFAULT 0,
      records          bigint NOT NULL DEFAULT 0
    );

    CREATE FUNCTION etl_source_totals_recount_runs(sources text[]) RETURNS void LANGUAGE sql AS $fn$
      INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                          last_failure_at, last_failed_run)
      SELECT s, count(r.run_id), count(*) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.fetched), 0), max(r.run_id),
             max(r.finished_at) FILTER (WHERE r.status = 'succeeded'), max(r.finished_at) FILTER (WHERE r.status = 'failed'),
             max(r.run_id) FILTER (WHERE r.status = 'failed')
      FROM unnest(sources) s LEFT JOIN etl_runs r ON r.source = s GROUP BY s
      ON CONFLICT (source) DO UPDATE SET runs = EXCLUDED.runs, failed_runs = EXCLUDED.failed_runs,
        processed = EXCLUDED.processed, last_run = EXCLUDED.last_run, last_success_at = EXCLUDED.last_success_at,
        last_failure_at = EXCLUDED.last_failure_at, last_failed_run = EXCLUDED.last_failed_run;
    $fn$;

    -- Per statement, like the rollups (a bulk insert of runs writes each source's row once).
    CREATE FUNCTION etl_runs_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        UPDATE etl_source_totals SET runs = 0, failed_runs = 0, processed = 0, last_run = NULL,
          last_success_at = NULL, last_failure_at = NULL, last_failed_run = NULL;
        RETURN NULL;
      ELSIF TG_OP = 'DELETE' THEN
        PERFORM etl_source_totals_recount_runs(array(SELECT DISTINCT source FROM old_rows));
        RETURN NULL;
      ELSIF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (run_id) WHERE o.status <> 'running' OR n.source <> o.source) THEN
          -- A finished run changed, or a run moved to another source: count those sources again.
          PERFORM etl_source_totals_recount_runs(array(SELECT source FROM old_rows UNION SELECT source FROM new_rows));
          RETURN NULL;
        END IF;
      END IF;
      -- Runs inserted, or running runs that progressed or finished: add the difference.
      EXECUTE format($q$
        INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                            last_failure_at, last_failed_run)
        SELECT source, sum(runs), sum(failed), sum(processed), max(last_run), max(last_success), max(last_failure),
               max(last_failed)
        FROM (SELECT source, 1 AS runs, (status = 'failed')::int AS failed, fetched::bigint AS processed, run_id AS last_run,
                     CASE WHEN status = 'succeeded' THEN finished_at END AS last_success,
                     CASE WHEN status = 'failed' THEN finished_at END AS last_failure,
                     CASE WHEN status = 'failed' THEN run_id END AS last_failed
              FROM new_rows %s) d
        GROUP BY source
        ON CONFLICT (source) DO UPDATE SET runs = t.runs + EXCLUDED.runs, failed_runs = t.failed_runs + EXCLUDED.failed_runs,
          processed = t.processed + EXCLUDED.processed, last_run = greatest(t.last_run, EXCLUDED.last_run),
          last_success_at = greatest(t.last_success_at, EXCLUDED.last_success_at),
          last_failure_at = greatest(t.last_failure_at, EXCLUDED.last_failure_at),
          last_failed_run = greatest(t.last_failed_run, EXCLUDED.last_failed_run)
        $q$, CASE WHEN TG_OP = 'UPDATE' THEN
               'UNION ALL SELECT source, -1, 0, -fetched::bigint, NULL, NULL, NULL, NULL FROM old_rows' ELSE '' END);
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER etl_runs_insert AFTER INSERT ON etl_runs REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
    CREATE TRIGGER etl_runs_update AFTER UPDATE ON etl_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
    CREATE TRIGGER etl_runs_delete AFTER DELETE ON etl_runs REFERENCING OLD TABLE AS old_rows
      FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
    CREATE TRIGGER etl_runs_truncate AFTER TRUNCATE ON etl_runs
      FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();

    -- Streams, quarantined records and market records (the hourly rollup's n): the column and
    -- what each row adds to it are the trigger's arguments. One grouped upsert per statement,
    -- rows removed subtracted and rows added added, as for the market rollups; an UPDATE writes
    -- only when the sum moved (the checkpoint upsert of every batch moves none).
    CREATE FUNCTION etl_source_totals_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      upsert text := format('INSERT INTO etl_source_totals AS t (source, %1$I) %%s
                             ON CONFLICT (source) DO UPDATE SET %1$I = t.%1$I + EXCLUDED.%1$I', TG_ARGV[0]);
      w text := TG_ARGV[1];
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('UPDATE etl_source_totals SET %I = 0', TG_ARGV[0]);
      ELSIF TG_OP = 'INSERT' THEN
        EXECUTE format(upsert, format('SELECT source, sum(%s) FROM new_rows GROUP BY source', w));
      ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format(upsert, format('SELECT source, -sum(%s) FROM old_rows GROUP BY source', w));
      ELSE
        EXECUTE format(upsert, format('SELECT source, sum(d) FROM (SELECT source, -(%1$s) AS d FROM old_rows
                                       UNION ALL SELECT source, %1$s FROM new_rows) m GROUP BY source HAVING sum(d) <> 0', w));
      END IF;
      RETURN NULL;
    END
    $fn$;
    DO $do$
    DECLARE
      t record;
    BEGIN
      FOR t IN SELECT * FROM (VALUES ('etl_checkpoints', 'checkpoints', '1'), ('quarantine', 'quarantined', '1'),
                                     ('market_counts_hourly', 'records', 'n')) v(tab, col, weight) LOOP
        EXECUTE format('CREATE TRIGGER %1$I AFTER INSERT ON %2$I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_insert', t.tab, t.col, t.weight);
        EXECUTE format('CREATE TRIGGER %1$I AFTER UPDATE ON %2$I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_update', t.tab, t.col, t.weight);
        EXECUTE format('CREATE TRIGGER %1$I AFTER DELETE ON %2$I REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_delete', t.tab, t.col, t.weight);
        EXECUTE format('CREATE TRIGGER %1$I AFTER TRUNCATE ON %2$I
                        FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_truncate', t.tab, t.col, t.weight);
      END LOOP;
    END
    $do$;

    -- What is there already (the triggers exist from here on, in the same transaction).
    SELECT etl_source_totals_recount_runs(array(SELECT DISTINCT source FROM etl_runs));
    INSERT INTO etl_source_totals AS t (source, checkpoints) SELECT source, count(*) FROM etl_checkpoints GROUP BY source
    ON CONFLICT (source) DO UPDATE SET checkpoints = EXCLUDED.checkpoints;
    INSERT INTO etl_source_totals AS t (source, quarantined) SELECT source, count(*) FROM quarantine GROUP BY source
    ON CONFLICT (source) DO UPDATE SET quarantined = EXCLUDED.quarantined;
    INSERT INTO etl_source_totals AS t (source, records) SELECT source, sum(n) FROM market_counts_hourly GROUP BY source
    ON CONFLICT (source) DO UPDATE SET records = EXCLUDED.records;
    """#)
}
