// GET /health: database reachability and latency, and each source's last run and staleness.
import Dispatch
import MarketData
import Store
import Telemetry

struct Health {
    let settings: Router.Settings

    struct Result {
        let healthy: Bool
        let status: String
        let database: String
        let etl: String

        func body(requestID: String, latencyMS: Double) -> String {
            "{\"status\":\"\(status)\",\"database\":\(database),\"etl\":\(etl),"
                + "\"request_id\":\(jsonString(requestID)),\"api_latency_ms\":\(formatLatency(latencyMS))}"
        }
    }

    /// One statement: per source that has ever run, its last run, last success, age and whether it
    /// counts against health (last run failed, or no success within `staleAfterSeconds`).
    static let sql = """
        WITH per AS (
          SELECT s.source, r.status, r.started_at, r.error, ok.finished_at AS last_success,
                 (r.status = 'failed' OR ok.finished_at IS NULL
                  OR ok.finished_at < now() - make_interval(secs => $2::int) OR r.drift > 0) AS unhealthy, r.drift
          FROM unnest($1::text[]) AS s(source)
          JOIN LATERAL (SELECT status, started_at, error,
                               (SELECT count(*) FROM schema_drift_events d WHERE d.run_id = e.run_id) AS drift
                        FROM etl_runs e WHERE e.source = s.source ORDER BY run_id DESC LIMIT 1) r ON true
          LEFT JOIN LATERAL (SELECT finished_at FROM etl_runs e WHERE e.source = s.source AND e.status = 'succeeded'
                             ORDER BY run_id DESC LIMIT 1) ok ON true
        )
        SELECT coalesce(json_object_agg(source, json_build_object(
                 'last_run_status', status, 'last_run_at', rfc3339(started_at),
                 'last_success_at', rfc3339(last_success),
                 'age_seconds', round(extract(epoch FROM now() - last_success))::bigint,
                 'stale', last_success IS NULL OR last_success < now() - make_interval(secs => $2::int),
                 'schema_drift_events', drift, 'last_error', error) ORDER BY source), '{}')::text,
               coalesce(bool_or(unhealthy), false)::text
        FROM per
        """

    func report(session: ReadSession) -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let row = try session.run { connection in
                try connection.queryPrepared("health", Health.sql,
                                             [sqlArrayLiteral(Source.allCases.map(\.rawValue)), String(settings.staleAfterSeconds)]).rows[0]
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
            let degraded = row[1] == "true"
            return Result(healthy: true, status: degraded ? "degraded" : "healthy",
                          database: "{\"status\":\"healthy\",\"latency_ms\":\(formatLatency(ms))}", etl: row[0] ?? "{}")
        } catch {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
            return Result(healthy: false, status: "unhealthy",
                          database: "{\"status\":\"unhealthy\",\"latency_ms\":\(formatLatency(ms)),\"error\":\(jsonString(error.message))}",
                          etl: "null")
        }
    }
}
