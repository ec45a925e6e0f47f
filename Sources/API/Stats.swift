// GET /stats: the ETL's summary, built as JSON by PostgreSQL.
import MarketData
import Store

/// Records per source, run counts, last success and failure, checkpoints.
enum Stats {
    /// One pass over each table: per-source aggregates first, the totals summed from them; record
    /// counts from the hourly rollup (a few thousand rows a year), never a scan of market_records.
    /// Checkpoints: the 20 most recently moved streams per source and their count (a history of
    /// 10,000 CSV files has 10,000 streams: listing them all made /stats grow with the history).
    static let sql = """
        WITH src AS (SELECT unnest($1::text[]) AS source),
        records AS (SELECT source, sum(n) AS n FROM market_counts_hourly GROUP BY source),
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
                                'line_no', c.line_no, 'updated_at', rfc3339(c.updated_at)) ORDER BY c.updated_at DESC, c.stream), '[]')
                              FROM (SELECT * FROM etl_checkpoints c WHERE c.source = src.source
                                    ORDER BY c.updated_at DESC, c.stream LIMIT 20) c),
              'checkpoints_total', (SELECT count(*) FROM etl_checkpoints c WHERE c.source = src.source)) ORDER BY src.source)
            FROM src LEFT JOIN records rec USING (source) LEFT JOIN runs r USING (source)
                     LEFT JOIN quarantined q USING (source))
        )::text AS stats
        """

    static func render(session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> [UInt8] {
        let json: String = try session.run { connection in
            try connection.queryPrepared(sql, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).single().get("stats")
        }
        // Splice the envelope's fields into PostgreSQL's object: `{` + envelope fields + `,` + rest.
        var out = envelope(requestID: requestID, latencyMS: elapsed())
        out.raw(",")
        out.raw(String(json.dropFirst()))
        return out.bytes
    }
}
