// GET /stats and GET /runs: ETL summaries, built as JSON by PostgreSQL.
import MarketData
import Store

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

enum Stats {
    /// One pass over each table: per-source aggregates first, the totals summed from them.
    static let sql = """
        WITH src AS (SELECT unnest($1::text[]) AS source),
        records AS (SELECT source, count(*) AS n FROM market_records GROUP BY source),
        runs AS (SELECT source, count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed,
                        coalesce(sum(fetched), 0) AS processed,
                        max(finished_at) FILTER (WHERE status = 'succeeded') AS last_success,
                        max(finished_at) FILTER (WHERE status = 'failed') AS last_failure
                 FROM etl_runs GROUP BY source),
        quarantined AS (SELECT source, count(*) AS n FROM quarantine GROUP BY source)
        SELECT json_build_object(
          'records_total', (SELECT coalesce(sum(n), 0) FROM records),
          'records_processed_total', (SELECT coalesce(sum(processed), 0) FROM runs),
          'last_run', (SELECT json_build_object('run_id', run_id, 'source', source, 'status', status,
                         'started_at', rfc3339(started_at), 'finished_at', rfc3339(finished_at),
                         'duration_seconds', round(extract(epoch FROM finished_at - started_at), 3))
                       FROM etl_runs ORDER BY run_id DESC LIMIT 1),
          'last_success_at', (SELECT rfc3339(max(last_success)) FROM runs),
          'last_failure_at', (SELECT rfc3339(max(last_failure)) FROM runs),
          'last_error', (SELECT error FROM etl_runs WHERE status = 'failed' ORDER BY run_id DESC LIMIT 1),
          'sources', (SELECT json_object_agg(src.source, json_build_object(
              'records', coalesce(rec.n, 0), 'records_processed', coalesce(r.processed, 0),
              'runs', coalesce(r.runs, 0), 'failed_runs', coalesce(r.failed, 0), 'quarantined', coalesce(q.n, 0),
              'last_success_at', rfc3339(r.last_success),
              'last_run_duration_seconds', (SELECT round(extract(epoch FROM finished_at - started_at), 3) FROM etl_runs e
                                            WHERE e.source = src.source ORDER BY run_id DESC LIMIT 1),
              'checkpoints', (SELECT coalesce(json_agg(json_build_object('stream', c.stream, 'position', c.position,
                                'line_no', c.line_no, 'updated_at', rfc3339(c.updated_at)) ORDER BY c.stream), '[]')
                              FROM etl_checkpoints c WHERE c.source = src.source)) ORDER BY src.source)
            FROM src LEFT JOIN records rec USING (source) LEFT JOIN runs r USING (source)
                     LEFT JOIN quarantined q USING (source))
        )::text
        """

    static func render(session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> String {
        let json = try session.run { connection in
            try connection.queryPrepared("stats", sql, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).scalar ?? "{}"
        }
        // Splice the envelope's fields into PostgreSQL's object: `{` + envelope fields + `,` + rest.
        return envelope(requestID: requestID, latencyMS: elapsed()) + "," + json.dropFirst()
    }
}

enum Runs {
    static let parameterNames: Set<String> = ["limit", "source", "status"]

    static func render(query: String, session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> String {
        let params = try QueryParameters(query, allowed: parameterNames)
        let limit = try params.integer("limit", in: 1...500) ?? 20
        let source = try params.choice("source", Source.self)?.rawValue
        let status = try params.choice("status", RunStatus.self)?.rawValue
        let json = try session.run { connection in
            try connection.queryPrepared("runs", """
                SELECT coalesce(json_agg(\(RunJSON.object) ORDER BY r.run_id DESC), '[]')::text
                FROM (SELECT * FROM etl_runs WHERE ($2::text IS NULL OR source = $2) AND ($3::text IS NULL OR status = $3)
                      ORDER BY run_id DESC LIMIT $1) r \(RunJSON.driftJoin)
                """, [String(limit), source, status]).scalar ?? "[]"
        }
        return envelope(requestID: requestID, latencyMS: elapsed()) + ",\"data\":" + json + ",\"limit\":\(limit)}"
    }
}
