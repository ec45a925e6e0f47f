// GET /metrics: the pool's API metrics from shared memory plus the ETL's, read from its run table.
import MarketData
import Store
import Telemetry

enum Metrics {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static let etlSQL = """
        SELECT s.source,
          coalesce(sum(r.fetched), 0)::text, coalesce(sum(r.inserted), 0)::text, coalesce(sum(r.updated), 0)::text,
          coalesce(sum(r.unchanged), 0)::text, coalesce(sum(r.quarantined), 0)::text,
          count(r.run_id) FILTER (WHERE r.status = 'succeeded')::text, count(r.run_id) FILTER (WHERE r.status = 'failed')::text,
          count(r.run_id) FILTER (WHERE r.status = 'running')::text,
          coalesce(extract(epoch FROM max(r.finished_at) FILTER (WHERE r.status = 'succeeded')), 0)::text,
          coalesce((SELECT extract(epoch FROM l.finished_at - l.started_at) FROM etl_runs l
                    WHERE l.source = s.source AND l.finished_at IS NOT NULL ORDER BY l.run_id DESC LIMIT 1), 0)::text,
          coalesce(sum(r.retries), 0)::text, coalesce(sum(r.rate_limit_wait_seconds), 0)::text,
          (SELECT count(*) FROM schema_drift_events d WHERE d.source = s.source)::text
        FROM unnest($1::text[]) AS s(source) LEFT JOIN etl_runs r ON r.source = s.source
        GROUP BY s.source ORDER BY s.source
        """

    private static let families: [(name: String, type: String, help: String)] = [
        ("kasparro_etl_records_fetched_total", "counter", "Source records read by ETL runs."),
        ("kasparro_etl_records_inserted_total", "counter", "New market records written."),
        ("kasparro_etl_records_updated_total", "counter", "Market records whose values changed."),
        ("kasparro_etl_records_unchanged_total", "counter", "Source records identical to what was stored."),
        ("kasparro_etl_records_quarantined_total", "counter", "Source records sent to quarantine."),
    ]

    static func render(session: ReadSession, metrics: SharedMetrics) -> String {
        var out = metrics.render()
        let rows: [[String?]]
        do {
            rows = try session.run { connection in
                try connection.queryPrepared("metrics_etl", etlSQL, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).rows
            }
        } catch {
            return out + "# HELP kasparro_database_up Whether the API could read the database for this scrape.\n"
                + "# TYPE kasparro_database_up gauge\nkasparro_database_up 0\n"
        }
        out += "# HELP kasparro_database_up Whether the API could read the database for this scrape.\n"
        out += "# TYPE kasparro_database_up gauge\nkasparro_database_up 1\n"
        for (index, family) in families.enumerated() {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for row in rows { out += "\(family.name){source=\"\(row[0]!)\"} \(row[index + 1]!)\n" }
        }
        out += "# HELP kasparro_etl_runs_total ETL runs by final status (running: in progress or interrupted).\n"
        out += "# TYPE kasparro_etl_runs_total counter\n"
        for row in rows {
            for (offset, status) in ["succeeded", "failed", "running"].enumerated() {
                out += "kasparro_etl_runs_total{source=\"\(row[0]!)\",status=\"\(status)\"} \(row[6 + offset]!)\n"
            }
        }
        let gauges: [(String, String, String, Int)] = [
            ("kasparro_etl_last_success_timestamp_seconds", "gauge", "Unix time of the source's last successful run (0: never).", 9),
            ("kasparro_etl_last_run_duration_seconds", "gauge", "Duration of the source's last finished run.", 10),
            ("kasparro_etl_http_retries_total", "counter", "HTTP requests retried (429, 5xx, timeouts, connection errors).", 11),
            ("kasparro_etl_rate_limit_wait_seconds_total", "counter", "Seconds spent waiting for the client-side rate limit.", 12),
            ("kasparro_etl_schema_drift_events_total", "counter", "Schema drift findings recorded.", 13),
        ]
        for (name, type, help, column) in gauges {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for row in rows { out += "\(name){source=\"\(row[0]!)\"} \(row[column]!)\n" }
        }
        return out
    }
}
