// GET /runs: the run history, newest first, filtered by source and status.
import MarketData
import Store

/// `?limit=N&source=&status=`.
enum Runs {
    static let parameterNames: Set<String> = ["limit", "source", "status"]

    static func render(query: String, session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> [UInt8] {
        let params = try QueryParameters(query, allowed: parameterNames)
        let limit = try params.integer("limit", in: 1...500) ?? 20
        let source = try params.choice("source", Source.self)?.rawValue
        let status = try params.choice("status", RunStatus.self)?.rawValue
        let json: String = try session.run { connection in
            try connection.queryPrepared("""
                SELECT coalesce(json_agg(\(RunJSON.object) ORDER BY r.run_id DESC), '[]')::text AS runs
                FROM (SELECT * FROM etl_runs WHERE ($2::text IS NULL OR source = $2) AND ($3::text IS NULL OR status = $3)
                      ORDER BY run_id DESC LIMIT $1) r \(RunJSON.driftJoin)
                """, [String(limit), source, status]).single().get("runs")
        }
        var out = envelope(requestID: requestID, latencyMS: elapsed())
        out.field("data", json: json)
        out.field("limit", Int64(limit))
        out.closeObject()
        return out.bytes
    }
}
