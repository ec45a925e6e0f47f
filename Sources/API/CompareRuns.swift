// GET /compare-runs: two runs side by side, their deltas, and the anomalies an operator should see.
import Foundation
import MarketData
import Store

/// Compares runs of one source: `?a=RUN&b=RUN`, `?source=X` (its last two runs), or every source's last two.
enum CompareRuns {
    static let parameterNames: Set<String> = ["a", "b", "source"]
    /// A record count below this fraction of the previous run's is a drop.
    static let dropThreshold = 0.5
    /// A duration above this multiple of the recent median (and above `minimumSpikeSeconds`) is a spike.
    static let spikeFactor = 3.0
    static let minimumSpikeSeconds = 1.0

    /// What a comparison flags.
    enum AnomalyKind: String {
        case failure
        case recordDrop = "record_drop"
        case durationSpike = "duration_spike"
        case schemaDrift = "schema_drift"
    }

    struct Run {
        let id: Int64
        let source: Source
        let status: RunStatus
        let seconds: Double?
        let fetched: Int64
        let inserted: Int64
        let unchanged: Int64
        let quarantined: Int64
        let error: String?
        let drift: Int64
        let medianSeconds: Double?
        /// The run as `/runs` shows it (`RunJSON.object`).
        let json: String

        init(id: Int64, source: Source, status: RunStatus, seconds: Double?, fetched: Int64, inserted: Int64,
             unchanged: Int64, quarantined: Int64, error: String?, drift: Int64, medianSeconds: Double?, json: String) {
            self.id = id
            self.source = source
            self.status = status
            self.seconds = seconds
            self.fetched = fetched
            self.inserted = inserted
            self.unchanged = unchanged
            self.quarantined = quarantined
            self.error = error
            self.drift = drift
            self.medianSeconds = medianSeconds
            self.json = json
        }

        init(_ row: Row) throws(DatabaseError) {
            self.init(id: try row.get("run_id"), source: try row.get("source"), status: try row.get("status"),
                      seconds: try row.optional("seconds"), fetched: try row.get("fetched"), inserted: try row.get("inserted"),
                      unchanged: try row.get("unchanged"), quarantined: try row.get("quarantined"),
                      error: try row.optional("error"), drift: try row.get("drift"),
                      medianSeconds: try row.optional("median_seconds"), json: try row.get("json"))
        }
    }

    static let runSQL = """
        SELECT r.run_id, r.source, r.status,
               extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds,
               r.fetched, r.inserted, r.unchanged, r.quarantined, r.error, d.drift,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.finished_at - p.started_at))
                  FROM (SELECT * FROM etl_runs p WHERE p.source = r.source AND p.run_id < r.run_id
                        AND p.status = 'succeeded' ORDER BY p.run_id DESC LIMIT 10) p)::float8 AS median_seconds,
               \(RunJSON.object)::text AS json
        FROM etl_runs r \(RunJSON.driftJoin)
        """

    static func render(query: String, session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> [UInt8] {
        let params = try QueryParameters(query, allowed: parameterNames)
        let a = try params.integer("a", in: 1...Int.max)
        let b = try params.integer("b", in: 1...Int.max)
        if (a == nil) != (b == nil) { throw APIError.badParameter(a == nil ? "a" : "b", "give both a and b (run ids), or neither") }
        let source = try params.choice("source", Source.self)
        if source != nil && a != nil { throw APIError.badParameter("source", "cannot be combined with a and b") }
        let pairs: [(Run, Run)] = try session.run { connection in
            if let a, let b {
                let runs = try connection.queryPrepared(runSQL + " WHERE r.run_id IN ($1, $2)", [String(a), String(b)])
                    .rows.map { row throws(DatabaseError) in try Run(row) }
                guard let first = runs.first(where: { $0.id == Int64(a) }) else { throw APIError(status: 404, code: "not_found", message: "a: no run \(a)") }
                guard let second = runs.first(where: { $0.id == Int64(b) }) else { throw APIError(status: 404, code: "not_found", message: "b: no run \(b)") }
                return [(first, second)]
            }
            var pairs: [(Run, Run)] = []
            for source in source.map({ [$0] }) ?? Source.allCases {
                let runs = try connection.queryPrepared(runSQL + " WHERE r.run_id IN (SELECT run_id FROM etl_runs WHERE source = $1 AND status <> 'running' ORDER BY run_id DESC LIMIT 2) ORDER BY r.run_id",
                                                        [source.rawValue]).rows.map { row throws(DatabaseError) in try Run(row) }
                if runs.count == 2 { pairs.append((runs[0], runs[1])) }
            }
            return pairs
        }
        var out = envelope(requestID: requestID, latencyMS: elapsed())
        out.field("comparisons")
        out.openArray()
        for (a, b) in pairs {
            out.element()
            out.openObject()
            out.field("source", b.source.rawValue)
            out.field("a", json: a.json)
            out.field("b", json: b.json)
            out.field("deltas")
            writeDeltas(a, b, into: &out)
            out.field("anomalies")
            out.openArray()
            for (kind, reason) in anomalies(a, b) {
                out.element()
                out.openObject()
                out.field("kind", kind.rawValue)
                out.field("reason", reason)
                out.closeObject()
            }
            out.closeArray()
            out.closeObject()
        }
        out.closeArray()
        out.closeObject()
        return out.bytes
    }

    private static func writeDeltas(_ a: Run, _ b: Run, into out: inout JSONWriter) {
        out.openObject()
        out.field("fetched", b.fetched - a.fetched)
        out.field("inserted", b.inserted - a.inserted)
        out.field("unchanged", b.unchanged - a.unchanged)
        out.field("quarantined", b.quarantined - a.quarantined)
        if let first = a.seconds, let second = b.seconds {
            out.field("duration_seconds", json: String(format: "%.3f", second - first))
        } else {
            out.field("duration_seconds", nil)
        }
        out.closeObject()
    }

    /// Anomalies of run `b` (the later one) against `a` and its source's recent history.
    static func anomalies(_ a: Run, _ b: Run) -> [(AnomalyKind, String)] {
        var found: [(AnomalyKind, String)] = []
        if b.status == .failed { found.append((.failure, "run \(b.id) failed: \(b.error ?? "no error recorded")")) }
        // The CSV source reads only appended lines, so its counts fall to 0 by design.
        if b.source != .csv, a.fetched > 0, Double(b.fetched) < Double(a.fetched) * dropThreshold {
            found.append((.recordDrop, "run \(b.id) fetched \(b.fetched) records, below \(Int(dropThreshold * 100))% of run \(a.id)'s \(a.fetched)"))
        }
        if let seconds = b.seconds, let median = b.medianSeconds, seconds > minimumSpikeSeconds, seconds > median * spikeFactor {
            found.append((.durationSpike, String(format: "run \(b.id) took %.2f s, over %.0f× the recent median of %.2f s", seconds, spikeFactor, median)))
        }
        if b.drift > 0 { found.append((.schemaDrift, "run \(b.id) recorded \(b.drift) schema drift event(s)")) }
        return found
    }
}
