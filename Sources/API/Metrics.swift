// GET /metrics: the pool's API metrics from shared memory plus the ETL's, read from each source's totals.
import MarketData
import Store
import Telemetry

enum Metrics {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Per source, from its row of `etl_source_totals` (kept by triggers as runs progress and end,
    /// migration 17): nothing here grows with the run history.
    static let etlSQL = """
        SELECT s.source, coalesce(t.processed, 0) AS fetched, coalesce(t.inserted, 0) AS inserted,
          coalesce(t.updated, 0) AS updated, coalesce(t.unchanged, 0) AS unchanged,
          coalesce(t.run_quarantined, 0) AS quarantined,
          coalesce(t.runs - t.failed_runs - t.running_runs, 0) AS succeeded, coalesce(t.failed_runs, 0) AS failed,
          coalesce(t.running_runs, 0) AS running,
          coalesce(extract(epoch FROM t.last_success_at), 0)::float8 AS last_success,
          coalesce((SELECT extract(epoch FROM l.finished_at - l.started_at) FROM etl_runs l
                    WHERE l.run_id = t.last_finished_run), 0)::float8 AS last_duration,
          coalesce(t.retries, 0) AS retries, coalesce(t.rate_limit_wait_seconds, 0)::float8 AS rate_limit_wait,
          coalesce(t.drift_events, 0) AS drift_events
        FROM unnest($1::text[]) AS s(source) LEFT JOIN etl_source_totals t USING (source)
        ORDER BY s.source
        """

    /// A metric family read from one column of `etlSQL`, per source.
    private struct Family {
        let name: String
        let type: String
        let help: String
        let column: String
        /// Whether the column is a whole number (counts) rather than seconds.
        let integral: Bool
    }

    private static let families: [Family] = [
        Family(name: "kasparro_etl_records_fetched_total", type: "counter", help: "Source records read by ETL runs.", column: "fetched", integral: true),
        Family(name: "kasparro_etl_records_inserted_total", type: "counter", help: "New market records written.", column: "inserted", integral: true),
        Family(name: "kasparro_etl_records_updated_total", type: "counter", help: "Market records whose values changed.", column: "updated", integral: true),
        Family(name: "kasparro_etl_records_unchanged_total", type: "counter", help: "Source records identical to what was stored.", column: "unchanged", integral: true),
        Family(name: "kasparro_etl_records_quarantined_total", type: "counter", help: "Source records sent to quarantine.", column: "quarantined", integral: true),
        Family(name: "kasparro_etl_last_success_timestamp_seconds", type: "gauge", help: "Unix time of the source's last successful run (0: never).", column: "last_success", integral: false),
        Family(name: "kasparro_etl_last_run_duration_seconds", type: "gauge", help: "Duration of the source's last finished run.", column: "last_duration", integral: false),
        Family(name: "kasparro_etl_http_retries_total", type: "counter", help: "HTTP requests retried (429, 5xx, timeouts, connection errors).", column: "retries", integral: true),
        Family(name: "kasparro_etl_rate_limit_wait_seconds_total", type: "counter", help: "Seconds spent waiting for the client-side rate limit.", column: "rate_limit_wait", integral: false),
        Family(name: "kasparro_etl_schema_drift_events_total", type: "counter", help: "Schema drift findings recorded.", column: "drift_events", integral: true),
    ]

    private static let databaseUpHelp = "# HELP kasparro_database_up Whether the API could read the database for this scrape.\n"
        + "# TYPE kasparro_database_up gauge\nkasparro_database_up "

    static func render(session: ReadSession, metrics: SharedMetrics, databases: [DatabaseProbes.Finding]? = nil) -> String {
        var out = metrics.render()
        if let databases {
            // Localhost only, so the servers are named here (never in /health).
            out += "# HELP kasparro_database_server_up Whether a database of the responders' conninfo answered, by role.\n"
            out += "# TYPE kasparro_database_server_up gauge\n"
            for database in databases {
                out += "kasparro_database_server_up{server=\"\(database.server)\",role=\"\(database.role ?? "unknown")\"} \(database.role == nil ? 0 : 1)\n"
            }
            out += "# HELP kasparro_database_replay_lag_seconds How long WAL a standby received has waited for replay (0: caught up).\n"
            out += "# TYPE kasparro_database_replay_lag_seconds gauge\n"
            for database in databases where database.role == "standby" {
                out += "kasparro_database_replay_lag_seconds{server=\"\(database.server)\"} \(database.lagSeconds)\n"
            }
            out += "# HELP kasparro_database_unreplayed_bytes WAL a standby received and has not replayed yet.\n"
            out += "# TYPE kasparro_database_unreplayed_bytes gauge\n"
            for database in databases where database.role == "standby" {
                out += "kasparro_database_unreplayed_bytes{server=\"\(database.server)\"} \(database.unreplayedBytes)\n"
            }
        }
        let etl: String
        do {
            etl = try session.run { connection in
                let rows = try connection.queryPrepared(etlSQL, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).rows
                return try renderETL(rows)
            }
        } catch {
            return out + databaseUpHelp + "0\n"
        }
        out += databaseUpHelp + "1\n"
        return out + etl
    }

    private static func renderETL(_ rows: [Row]) throws(DatabaseError) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for row in rows {
                let source: String = try row.get("source")
                let value = family.integral ? String(try row.get(family.column, as: Int64.self))
                    : String(try row.get(family.column, as: Double.self))
                out += "\(family.name){source=\"\(source)\"} \(value)\n"
            }
        }
        out += "# HELP kasparro_etl_runs_total ETL runs by final status (running: in progress or interrupted).\n"
        out += "# TYPE kasparro_etl_runs_total counter\n"
        for row in rows {
            let source: String = try row.get("source")
            for status in RunStatus.allCases {
                out += "kasparro_etl_runs_total{source=\"\(source)\",status=\"\(status.rawValue)\"} \(try row.get(status.rawValue, as: Int64.self))\n"
            }
        }
        return out
    }
}
