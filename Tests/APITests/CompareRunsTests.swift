// Anomaly rules of /compare-runs on hand-made runs.
@testable import API
import MarketData
import XCTest

final class CompareRunsTests: XCTestCase {
    private func run(_ id: Int64, source: Source = .coingecko, status: RunStatus = .succeeded, seconds: Double = 1,
                     fetched: Int64 = 500, drift: Int64 = 0, median: Double? = 1) -> CompareRuns.Run {
        CompareRuns.Run(id: id, source: source, status: status, seconds: seconds, fetched: fetched, inserted: 0,
                        unchanged: 0, quarantined: 0, error: status == .failed ? "timed out" : nil, drift: drift,
                        medianSeconds: median, json: "{}")
    }

    private func kinds(_ a: CompareRuns.Run, _ b: CompareRuns.Run) -> [String] {
        CompareRuns.anomalies(a, b).map(\.0.rawValue)
    }

    func testQuietPairHasNoAnomalies() {
        XCTAssertEqual(kinds(run(1), run(2, fetched: 480, median: 1.1)), [])
    }

    func testEachAnomaly() {
        XCTAssertEqual(kinds(run(1), run(2, status: .failed)), ["failure"])
        XCTAssertEqual(kinds(run(1), run(2, fetched: 100)), ["record_drop"])
        XCTAssertEqual(kinds(run(1), run(2, seconds: 9, median: 2)), ["duration_spike"])
        XCTAssertEqual(kinds(run(1), run(2, drift: 3)), ["schema_drift"])
    }

    func testCSVCountsFallByDesignAndShortRunsNeverSpike() {
        XCTAssertEqual(kinds(run(1, source: .csv, fetched: 17061), run(2, source: .csv, fetched: 0)), [])
        XCTAssertEqual(kinds(run(1), run(2, seconds: 0.9, median: 0.01)), [])
    }
}
