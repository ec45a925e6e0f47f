// Migration 17: every run counter in the source totals. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v017 = Migration(version: 17, name: "every run counter in the source totals", sql: #"""
    -- /metrics summed every run on every scrape (a year at the default schedule is 70,000 runs).
    -- Each source's row now also keeps the run counters /metrics exports, kept by the same
    -- statement triggers in the writers' transactions: records inserted, updated, unchanged and
    -- quarantined by runs, HTTP retries and rate-limit waits, runs still running, the last finished
    -- run, and schema drift events. Expand-only: columns added, functions replaced with supersets.
    ALTER TABLE etl_source_totals
      ADD COLUMN inserted bigint NOT NULL DEFAULT 0,
      ADD COLUMN updated bigint NOT NULL DEFAULT 0,
      ADD COLUMN unchanged bigint NOT NULL DEFAULT 0,
      ADD COLUMN run_quarantined bigint NOT NULL DEFAULT 0,
      ADD COLUMN retries bigint NOT NULL DEFAULT 0,
      ADD COLUMN rate_limit_wait_seconds double precision NOT NULL DEFAULT 0,
      ADD COLUMN running_runs bigint NOT NULL DEFAULT 0,
      ADD COLUMN last_finished_run bigint,
      ADD COLUMN drift_events bigint NOT NULL DEFAULT 0;

    CREATE OR REPLACE FUNCTION etl_source_totals_recount_runs(sources text[]) RETURNS void LANGUAGE sql AS $fn$
      INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                          last_failure_at, last_failed_run, inserted, updated, unchanged, run_quarantined,
                                          retries, rate_limit_wait_seconds, running_runs, last_finished_run)
      SELECT s, count(r.run_id), count(*) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.fetched), 0), max(r.run_id),
             max(r.finished_at) FILTER (WHERE r.status = 'succeeded'), max(r.finished_at) FILTER (WHERE r.status = 'failed'),
             max(r.run_id) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.inserted), 0), coalesce(sum(r.updated), 0),
             coalesce(sum(r.unchanged), 0), coalesce(sum(r.quarantined), 0), coalesce(sum(r.retries), 0),
             coalesce(sum(r.rate_limit_wait_seconds), 0), count(*) FILTER (WHERE r.status = 'running'),
             max(r.run_id) FILTER (WHERE r.finished_at IS NOT NULL)
      FROM unnest(sources) s LEFT JOIN etl_runs r ON r.source = s GROUP BY s
      ON CONFLICT (source) DO UPDATE SET runs = EXCLUDED.runs, failed_runs = EXCLUDED.failed_runs,
        processed = EXCLUDED.processed, last_run = EXCLUDED.last_run, last_success_at = EXCLUDED.last_success_at,
        last_failure_at = EXCLUDED.last_failure_at, last_failed_run = EXCLUDED.last_failed_run,
        inserted = EXCLUDED.inserted, updated = EXCLUDED.updated, unchanged = EXCLUDED.unchanged,
        run_quarantined = EXCLUDED.run_quarantined, retries = EXCLUDED.retries,
        rate_limit_wait_seconds = EXCLUDED.rate_limit_wait_seconds, running_runs = EXCLUDED.running_runs,
        last_finished_run = EXCLUDED.last_finished_run;
    $fn$;

    CREATE OR REPLACE FUNCTION etl_runs_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        UPDATE etl_source_totals SET runs = 0, failed_runs = 0, processed = 0, last_run = NULL,
          last_success_at = NULL, last_failure_at = NULL, last_failed_run = NULL, inserted = 0, updated = 0,
          unchanged = 0, run_quarantined = 0, retries = 0, rate_limit_wait_seconds = 0, running_runs = 0,
          last_finished_run = NULL;
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
      -- Runs inserted, or running runs that progressed or finished: add the difference (an old
      -- row here is always a running run).
      EXECUTE format($q$
        INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                            last_failure_at, last_failed_run, inserted, updated, unchanged,
                                            run_quarantined, retries, rate_limit_wait_seconds, running_runs,
                                            last_finished_run)
        SELECT source, sum(runs), sum(failed), sum(processed), max(last_run), max(last_success), max(last_failure),
               max(last_failed), sum(inserted), sum(updated), sum(unchanged), sum(quarantined), sum(retries),
               sum(waited), sum(running), max(last_finished)
        FROM (SELECT source, 1 AS runs, (status = 'failed')::int AS failed, fetched::bigint AS processed, run_id AS last_run,
                     CASE WHEN status = 'succeeded' THEN finished_at END AS last_success,
                     CASE WHEN status = 'failed' THEN finished_at END AS last_failure,
                     CASE WHEN status = 'failed' THEN run_id END AS last_failed,
                     inserted::bigint AS inserted, updated::bigint AS updated, unchanged::bigint AS unchanged,
                     quarantined::bigint AS quarantined, retries::bigint AS retries, rate_limit_wait_seconds AS waited,
                     (status = 'running')::int AS running,
                     CASE WHEN finished_at IS NOT NULL THEN run_id END AS last_finished
              FROM new_rows %s) d
        GROUP BY source
        ON CONFLICT (source) DO UPDATE SET runs = t.runs + EXCLUDED.runs, failed_runs = t.failed_runs + EXCLUDED.failed_runs,
          processed = t.processed + EXCLUDED.processed, last_run = greatest(t.last_run, EXCLUDED.last_run),
          last_success_at = greatest(t.last_success_at, EXCLUDED.last_success_at),
          last_failure_at = greatest(t.last_failure_at, EXCLUDED.last_failure_at),
          last_failed_run = greatest(t.last_failed_run, EXCLUDED.last_failed_run),
          inserted = t.inserted + EXCLUDED.inserted, updated = t.updated + EXCLUDED.updated,
          unchanged = t.unchanged + EXCLUDED.unchanged, run_quarantined = t.run_quarantined + EXCLUDED.run_quarantined,
          retries = t.retries + EXCLUDED.retries,
          rate_limit_wait_seconds = t.rate_limit_wait_seconds + EXCLUDED.rate_limit_wait_seconds,
          running_runs = t.running_runs + EXCLUDED.running_runs,
          last_finished_run = greatest(t.last_finished_run, EXCLUDED.last_finished_run)
        $q$, CASE WHEN TG_OP = 'UPDATE' THEN
               'UNION ALL SELECT source, -1, 0, -fetched::bigint, NULL, NULL, NULL, NULL, -inserted::bigint, -updated::bigint,
                       -unchanged::bigint, -quarantined::bigint, -retries::bigint, -rate_limit_wait_seconds, -1, NULL
                FROM old_rows' ELSE '' END);
      RETURN NULL;
    END
    $fn$;

    -- Drift events counted like checkpoints and quarantined records (migration 14's function).
    CREATE TRIGGER schema_drift_events_insert AFTER INSERT ON schema_drift_events REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count('drift_events', '1');
    CREATE TRIGGER schema_drift_events_update AFTER UPDATE ON schema_drift_events REFERENCING OLD TABLE AS old_rows
      NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count('drift_events', '1');
    CREATE TRIGGER schema_drift_events_delete AFTER DELETE ON schema_drift_events REFERENCING OLD TABLE AS old_rows
      FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count('drift_events', '1');
    CREATE TRIGGER schema_drift_events_truncate AFTER TRUNCATE ON schema_drift_events
      FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count('drift_events', '1');

    -- What is there already (the triggers exist from here on, in the same transaction).
    SELECT etl_source_totals_recount_runs(array(SELECT DISTINCT source FROM etl_runs));
    INSERT INTO etl_source_totals AS t (source, drift_events) SELECT source, count(*) FROM schema_drift_events GROUP BY source
    ON CONFLICT (source) DO UPDATE SET drift_events = EXCLUDED.drift_events;
    """#)
}
