// GET /stats: the ETL's summary, built as JSON by PostgreSQL.
import MarketData
import Store

/// Records per source, run counts, last success and failure, checkpoints.
enum Stats {
    /// Nothing here grows with the history: record, run, checkpoint and quarantine figures come
    /// from one row per source (`etl_source_totals`, kept by triggers since migration 14; a year at
    /// the default schedule is 70,000 runs and 26,000 hourly rollup rows, which /stats used to
    /// aggregate on every call), the latest runs by key. Checkpoints: the 20 most recently moved
    /// streams per source and their count (a history of 10,000 CSV files has 10,000 streams).
    static let sql = """
        WITH src AS (SELECT unnest($1::text[]) AS source),
        t AS (SELECT * FROM etl_source_totals)
        SELECT json_build_object(
          'records_total', (SELECT coalesce(sum(records), 0) FROM t),
          'records_processed_total', (SELECT coalesce(sum(processed), 0) FROM t),
          'last_run', (SELECT json_build_object('run_id', run_id, 'source', source, 'status', status,
                         'started_at', rfc3339(started_at), 'finished_at', rfc3339(finished_at),
                         'duration_seconds', round(extract(epoch FROM finished_at - started_at), 3))
                       FROM etl_runs ORDER BY run_id DESC LIMIT 1),
          'last_success_at', (SELECT rfc3339(max(last_success_at)) FROM t),
          'last_failure_at', (SELECT rfc3339(max(last_failure_at)) FROM t),
          'last_error', (SELECT error FROM etl_runs WHERE run_id = (SELECT max(last_failed_run) FROM t)),
          'sources', (SELECT json_object_agg(src.source, json_build_object(
              'records', coalesce(t.records, 0), 'records_processed', coalesce(t.processed, 0),
              'runs', coalesce(t.runs, 0), 'failed_runs', coalesce(t.failed_runs, 0), 'quarantined', coalesce(t.quarantined, 0),
              'last_success_at', rfc3339(t.last_success_at),
              'last_run_duration_seconds', (SELECT round(extract(epoch FROM finished_at - started_at), 3) FROM etl_runs e
                                            WHERE e.run_id = t.last_run),
              'checkpoints', (SELECT coalesce(json_agg(json_build_object('stream', c.stream, 'position', c.position,
                                'line_no', c.line_no, 'updated_at', rfc3339(c.updated_at)) ORDER BY c.updated_at DESC, c.stream), '[]')
                              FROM (SELECT * FROM etl_checkpoints c WHERE c.source = src.source
                                    ORDER BY c.updated_at DESC, c.stream LIMIT 20) c),
              'checkpoints_total', coalesce(t.checkpoints, 0)) ORDER BY src.source)
            FROM src LEFT JOIN t USING (source))
        )::text AS stats
        """

    static func render(session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> [UInt8] {
        let json: String = try session.run { connection in
            try connection.queryPrepared(sql, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).single().get("stats")
        }
        // Splice the envelope's fields into PostgreSQL's object: `{` + envelope fields + `,` + rest.
        var out = envelope(requestID: requestID, latencyMS: elapsed())
        out.raw(",")
        out.compact(String(json.dropFirst()))
        return out.bytes
    }
}
