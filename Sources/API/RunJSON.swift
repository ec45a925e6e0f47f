// The JSON of one ETL run, the same in /runs and /compare-runs.

/// The JSON object of one `etl_runs` row `r` (with `d.drift` from `driftJoin`), shared by
/// `/runs` and `/compare-runs` so a run looks the same in both.
enum RunJSON {
    static let object = """
        json_build_object('run_id', r.run_id, 'invocation_id', r.invocation_id, 'source', r.source,
          'trigger', r.trigger, 'status', r.status, 'started_at', rfc3339(r.started_at),
          'finished_at', rfc3339(r.finished_at),
          'duration_seconds', round(extract(epoch FROM r.finished_at - r.started_at), 3),
          'fetched', r.fetched, 'inserted', r.inserted, 'updated', r.updated, 'unchanged', r.unchanged,
          'quarantined', r.quarantined, 'retries', r.retries, 'rate_limit_wait_seconds', r.rate_limit_wait_seconds,
          'drift_events', d.drift, 'error', r.error)
        """
    static let driftJoin = """
        LEFT JOIN LATERAL (SELECT count(*) AS drift FROM schema_drift_events e WHERE e.run_id = r.run_id) d ON true
        """
}
