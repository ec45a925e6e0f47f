// GET /compare-runs: two runs side by side, their deltas, and the anomalies an operator should see.
import MarketData
import Store
import Telemetry

/// Compares runs of one source: `?a=RUN&b=RUN`, `?source=X` (its last two runs), or every source's last two.
enum CompareRuns {
    static let parameterNames: Set<String> = ["a", "b", "source"]
    /// A record count below this fraction of the previous run's is a drop.
    static let dropThreshold = 0.5
    /// A duration above this multiple of the recent median (and above `minimumSpikeSeconds`) is a spike.
    static let spikeFactor = 3.0
    static let minimumSpikeSeconds = 1.0

    struct Run {
        let id: Int64
        let source: String
        let status: String
        let seconds: Double?
        let fetched: Int64
        let inserted: Int64
        let unchanged: Int64
        let quarantined: Int64
        let error: String?
        let drift: Int64
        let medianSeconds: Double?
        let json: String
    }

    static let runSQL = """
        SELECT r.run_id::text, r.source, r.status,
               extract(epoch FROM r.finished_at - r.started_at)::float8::text,
               r.fetched::text, r.inserted::text, r.unchanged::text, r.quarantined::text, r.error,
               d.drift::text,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.finished_at - p.started_at))
                  FROM (SELECT * FROM etl_runs p WHERE p.source = r.source AND p.run_id < r.run_id
                        AND p.status = 'succeeded' ORDER BY p.run_id DESC LIMIT 10) p)::text,
               \(RunJSON.object)::text
        FROM etl_runs r \(RunJSON.driftJoin)
        """

    static func render(query: String, session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> String {
        let params = try QueryParameters(query, allowed: parameterNames)
        let a = try params.integer("a", in: 1...Int.max)
        let b = try params.integer("b", in: 1...Int.max)
        if (a == nil) != (b == nil) { throw APIError.badParameter(a == nil ? "a" : "b", "give both a and b (run ids), or neither") }
        let source = try params.choice("source", Source.self)
        if source != nil && a != nil { throw APIError.badParameter("source", "cannot be combined with a and b") }
        let pairs: [(Run, Run)] = try session.run { connection in
            if let a, let b {
                let rows = try connection.queryPrepared("compare_ids", runSQL + " WHERE r.run_id IN ($1, $2)", [String(a), String(b)]).rows
                let runs = rows.map(parse)
                guard let first = runs.first(where: { $0.id == Int64(a) }) else { throw APIError(status: 404, code: "not_found", message: "a: no run \(a)") }
                guard let second = runs.first(where: { $0.id == Int64(b) }) else { throw APIError(status: 404, code: "not_found", message: "b: no run \(b)") }
                return [(first, second)]
            }
            let sources = source.map { [$0] } ?? Source.allCases
            var pairs: [(Run, Run)] = []
            for source in sources {
                let rows = try connection.queryPrepared("compare_last_two", runSQL + " WHERE r.run_id IN (SELECT run_id FROM etl_runs WHERE source = $1 AND status <> 'running' ORDER BY run_id DESC LIMIT 2) ORDER BY r.run_id",
                                                        [source.rawValue]).rows
                if rows.count == 2 { pairs.append((parse(rows[0]), parse(rows[1]))) }
            }
            return pairs
        }
        let items = pairs.map { a, b in
            "{\"source\":\(jsonString(b.source)),\"a\":\(a.json),\"b\":\(b.json),\"deltas\":\(deltas(a, b)),\"anomalies\":\(anomalies(a, b))}"
        }
        return envelope(requestID: requestID, latencyMS: elapsed()) + ",\"comparisons\":[" + items.joined(separator: ",") + "]}"
    }

    private static func parse(_ row: [String?]) -> Run {
        Run(id: Int64(row[0]!)!, source: row[1]!, status: row[2]!, seconds: row[3].flatMap(Double.init),
            fetched: Int64(row[4]!)!, inserted: Int64(row[5]!)!, unchanged: Int64(row[6]!)!, quarantined: Int64(row[7]!)!,
            error: row[8], drift: Int64(row[9]!)!, medianSeconds: row[10].flatMap(Double.init), json: row[11]!)
    }

    private static func deltas(_ a: Run, _ b: Run) -> String {
        let duration = (a.seconds != nil && b.seconds != nil) ? String(format: "%.3f", b.seconds! - a.seconds!) : "null"
        return "{\"fetched\":\(b.fetched - a.fetched),\"inserted\":\(b.inserted - a.inserted),"
            + "\"unchanged\":\(b.unchanged - a.unchanged),\"quarantined\":\(b.quarantined - a.quarantined),"
            + "\"duration_seconds\":\(duration)}"
    }

    /// Anomalies of run `b` (the later one) against `a` and its source's recent history.
    static func anomalies(_ a: Run, _ b: Run) -> String {
        var found: [(String, String)] = []
        if b.status == "failed" { found.append(("failure", "run \(b.id) failed: \(b.error ?? "no error recorded")")) }
        // The CSV source reads only appended lines, so its counts fall to 0 by design.
        if b.source != Source.csv.rawValue, a.fetched > 0, Double(b.fetched) < Double(a.fetched) * dropThreshold {
            found.append(("record_drop", "run \(b.id) fetched \(b.fetched) records, below \(Int(dropThreshold * 100))% of run \(a.id)'s \(a.fetched)"))
        }
        if let seconds = b.seconds, let median = b.medianSeconds, seconds > minimumSpikeSeconds, seconds > median * spikeFactor {
            found.append(("duration_spike", String(format: "run \(b.id) took %.2f s, over %.0f× the recent median of %.2f s", seconds, spikeFactor, median)))
        }
        if b.drift > 0 { found.append(("schema_drift", "run \(b.id) recorded \(b.drift) schema drift event(s)")) }
        return "[" + found.map { "{\"kind\":\(jsonString($0.0)),\"reason\":\(jsonString($0.1))}" }.joined(separator: ",") + "]"
    }
}
