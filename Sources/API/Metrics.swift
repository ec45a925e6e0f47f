// GET /metrics: the pool's API metrics from shared memory plus the ETL's, read from its run table.
import MarketData
import Store
import Telemetry

enum Metrics {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static let etlSQL = """
        SELECT s.source,
          coalesce(sum(r.fetched), 0) AS fetched, coalesce(sum(r.inserted), 0) AS inserted,
          coalesce(sum(r.updated), 0) AS updated, coalesce(sum(r.unchanged), 0) AS unchanged,
          coalesce(sum(r.quarantined), 0) AS quarantined,
          count(r.run_id) FILTER (WHERE r.status = 'succeeded') AS succeeded,
          count(r.run_id) FILTER (WHERE r.status = 'failed') AS failed,
          count(r.run_id) FILTER (WHERE r.status = 'running') AS running,
          coalesce(extract(epoch FROM max(r.finished_at) FILTER (WHERE r.status = 'succeeded')), 0)::float8 AS last_success,
          coalesce((SELECT extract(epoch FROM l.finished_at - l.started_at) FROM etl_runs l
                    WHERE l.source = s.source AND l.finished_at IS NOT NULL ORDER BY l.run_id DESC LIMIT 1), 0)::float8 AS last_duration,
          coalesce(sum(r.retries), 0) AS retries, coalesce(sum(r.rate_limit_wait_seconds), 0)::float8 AS rate_limit_wait,
          (SELECT count(*) FROM schema_drift_events d WHERE d.source = s.source) AS drift_events
        FROM unnest($1::text[]) AS s(source) LEFT JOIN etl_runs r ON r.source = s.source
        GROUP BY s.source ORDER BY s.source
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
