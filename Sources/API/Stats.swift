// GET /stats and GET /runs: ETL summaries, built as JSON by PostgreSQL.
import MarketData
import Store

enum Stats {
    static let sql = """
        WITH src AS (SELECT unnest($1::text[]) AS source)
        SELECT json_build_object(
          'records_total', (SELECT count(*) FROM market_records),
          'records_processed_total', (SELECT coalesce(sum(fetched), 0) FROM etl_runs),
          'last_run', (SELECT json_build_object('run_id', run_id, 'source', source, 'status', status,
                         'started_at', rfc3339(started_at), 'finished_at', rfc3339(finished_at),
                         'duration_seconds', round(extract(epoch FROM finished_at - started_at), 3))
                       FROM etl_runs ORDER BY run_id DESC LIMIT 1),
          'last_success_at', (SELECT rfc3339(max(finished_at)) FROM etl_runs WHERE status = 'succeeded'),
          'last_failure_at', (SELECT rfc3339(max(finished_at)) FROM etl_runs WHERE status = 'failed'),
          'last_error', (SELECT error FROM etl_runs WHERE status = 'failed' ORDER BY run_id DESC LIMIT 1),
          'sources', (SELECT json_object_agg(src.source, json_build_object(
              'records', (SELECT count(*) FROM market_records m WHERE m.source = src.source),
              'records_processed', (SELECT coalesce(sum(fetched), 0) FROM etl_runs e WHERE e.source = src.source),
              'runs', (SELECT count(*) FROM etl_runs e WHERE e.source = src.source),
              'failed_runs', (SELECT count(*) FROM etl_runs e WHERE e.source = src.source AND e.status = 'failed'),
              'quarantined', (SELECT count(*) FROM quarantine q WHERE q.source = src.source),
              'last_success_at', (SELECT rfc3339(max(finished_at)) FROM etl_runs e
                                  WHERE e.source = src.source AND e.status = 'succeeded'),
              'last_run_duration_seconds', (SELECT round(extract(epoch FROM finished_at - started_at), 3) FROM etl_runs e
                                            WHERE e.source = src.source ORDER BY run_id DESC LIMIT 1),
              'checkpoints', (SELECT coalesce(json_agg(json_build_object('stream', c.stream, 'position', c.position,
                                'line_no', c.line_no, 'updated_at', rfc3339(c.updated_at)) ORDER BY c.stream), '[]')
                              FROM etl_checkpoints c WHERE c.source = src.source)) ORDER BY src.source) FROM src)
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
        var source: String?
        if let text = params["source"] {
            guard Source(rawValue: text) != nil else {
                throw APIError.badParameter("source", "must be one of \(Source.allNames), got \(QueryParameters.show(text))")
            }
            source = text
        }
        var status: String?
        if let text = params["status"] {
            guard RunStatus(rawValue: text) != nil else {
                throw APIError.badParameter("status", "must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), got \(QueryParameters.show(text))")
            }
            status = text
        }
        let json = try session.run { connection in
            try connection.queryPrepared("runs", """
                SELECT coalesce(json_agg(json_build_object(
                  'run_id', run_id, 'invocation_id', invocation_id, 'source', source, 'trigger', trigger,
                  'status', status, 'started_at', rfc3339(started_at), 'finished_at', rfc3339(finished_at),
                  'duration_seconds', round(extract(epoch FROM finished_at - started_at), 3),
                  'fetched', fetched, 'inserted', inserted, 'updated', updated, 'unchanged', unchanged,
                  'quarantined', quarantined, 'retries', retries, 'rate_limit_wait_seconds', rate_limit_wait_seconds,
                  'drift_events', (SELECT count(*) FROM schema_drift_events d WHERE d.run_id = r.run_id),
                  'error', error) ORDER BY run_id DESC), '[]')::text
                FROM (SELECT * FROM etl_runs WHERE ($2::text IS NULL OR source = $2) AND ($3::text IS NULL OR status = $3)
                      ORDER BY run_id DESC LIMIT $1) r
                """, [String(limit), source, status]).scalar ?? "[]"
        }
        return envelope(requestID: requestID, latencyMS: elapsed()) + ",\"data\":" + json + ",\"limit\":\(limit)}"
    }
}
