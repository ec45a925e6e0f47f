// GET /health: database reachability and latency, and each source's last run and staleness.
import Dispatch
import MarketData
import Store

struct Health {
    let settings: Router.Settings
    /// Each database of the conninfo, when the router has probes.
    let probes: DatabaseProbes?

    /// The outcome: `healthy`/`degraded` while the database answers, `unhealthy` when it does not.
    enum Status: String {
        case healthy, degraded, unhealthy
    }

    struct Result: Sendable {
        var status: Status
        let databaseLatencyMS: Double
        /// Why the database could not be read (generic, safe for clients).
        let databaseError: String?
        /// Per-source object built by PostgreSQL, nil when the database is down.
        let etl: String?
        /// Each database of the conninfo, in its order: role and replay lag (no host names).
        var databases: [DatabaseProbes.Finding]? = nil
        var maxLagSeconds: Double = 60

        /// 200 while the database answers, 503 when it does not.
        var httpStatus: Int { status == .unhealthy ? 503 : 200 }

        func body(requestID: String, latencyMS: Double) -> [UInt8] {
            var out = JSONWriter(capacity: 1024)
            out.openObject()
            out.field("status", status.rawValue)
            out.field("database")
            out.openObject()
            out.field("status", (databaseError == nil ? Status.healthy : Status.unhealthy).rawValue)
            out.field("latency_ms", json: formatLatency(databaseLatencyMS))
            if let databaseError { out.field("error", databaseError) }
            out.closeObject()
            out.field("etl", json: etl ?? "null")
            if let databases {
                out.field("databases")
                out.raw("[")
                for (index, database) in databases.enumerated() {
                    if index > 0 { out.raw(",") }
                    out.openObject()
                    out.field("role", database.role ?? "unknown")
                    out.field("status", Health.status(of: database, maxLagSeconds: maxLagSeconds))
                    if database.role == "standby" {
                        out.field("replay_lag_seconds", json: String(format: "%.3f", database.lagSeconds))
                        out.field("unreplayed_bytes", json: String(database.unreplayedBytes))
                        out.field("replay_paused", json: database.replayPaused ? "true" : "false")
                    }
                    out.closeObject()
                }
                out.raw("]")
            }
            out.field("request_id", requestID)
            out.field("api_latency_ms", json: formatLatency(latencyMS))
            out.closeObject()
            return out.bytes
        }
    }

    /// One statement: per source that has ever run, its last run, last success, age and whether it
    /// counts against health (last run failed, or no success within `staleAfterSeconds`). The last
    /// run and success come from `etl_source_totals`, never a search of the runs.
    static let sql = """
        WITH per AS (
          SELECT l.*, (status = 'failed' OR last_success IS NULL
                       OR last_success < now() - make_interval(secs => $2::int) OR drift > 0) AS unhealthy
          FROM (SELECT s.source, r.status, r.started_at, r.error, r.drift, t.last_success_at AS last_success
                FROM unnest($1::text[]) AS s(source)
                JOIN etl_source_totals t USING (source)
                JOIN LATERAL (SELECT status, started_at, error,
                                     (SELECT count(*) FROM schema_drift_events d WHERE d.run_id = e.run_id) AS drift
                              FROM etl_runs e WHERE e.run_id = t.last_run) r ON true) l
        )
        SELECT coalesce(json_object_agg(source, json_build_object(
                 'last_run_status', status, 'last_run_at', rfc3339(started_at),
                 'last_success_at', rfc3339(last_success),
                 'age_seconds', round(extract(epoch FROM now() - last_success))::bigint,
                 'stale', last_success IS NULL OR last_success < now() - make_interval(secs => $2::int),
                 'schema_drift_events', drift, 'last_error', error) ORDER BY source), '{}')::text AS etl,
               coalesce(bool_or(unhealthy), false) AS degraded
        FROM per
        """

    /// `healthy`, `lagging` (a standby more than `maxLagSeconds` behind) or `down`.
    static func status(of database: DatabaseProbes.Finding, maxLagSeconds: Double) -> String {
        guard database.role != nil else { return "down" }
        return database.lagSeconds > maxLagSeconds ? "lagging" : "healthy"
    }

    func report(session: ReadSession) -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsedMS() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000 }
        do {
            let (etl, degraded): (String, Bool) = try session.run { connection in
                let row = try connection.queryPrepared(Health.sql, [sqlArrayLiteral(Source.allCases.map(\.rawValue)),
                                                             String(settings.staleAfterSeconds)]).single()
                return (try row.get("etl"), try row.get("degraded"))
            }
            var result = Result(status: degraded ? .degraded : .healthy, databaseLatencyMS: elapsedMS(), databaseError: nil, etl: etl)
            if let probes {
                let databases = probes.probe()
                result.databases = databases
                result.maxLagSeconds = settings.replicaMaxLagSeconds
                // A lagging or unreachable database of the pool is degraded service, not an outage:
                // the pool reads from the others.
                if databases.contains(where: { Health.status(of: $0, maxLagSeconds: settings.replicaMaxLagSeconds) != "healthy" }) {
                    result.status = .degraded
                }
            }
            return result
        } catch {
            return Result(status: .unhealthy, databaseLatencyMS: elapsedMS(), databaseError: error.message, etl: nil)
        }
    }
}
