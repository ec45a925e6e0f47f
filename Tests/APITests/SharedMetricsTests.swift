// Two mappings of one metrics file (as two responder processes have) count into the same slots.
import Foundation
@testable import API
import Telemetry
import XCTest

final class SharedMetricsTests: XCTestCase {
    func testTwoMappingsShareCounters() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let one = try SharedMetrics(path: path)
        let two = try SharedMetrics(path: path)
        one.record(path: "/data", status: 200, seconds: 0.004)
        two.record(path: "/data", status: 200, seconds: 0.2)
        two.record(path: "/weird", status: 418, seconds: 3)
        one.inFlight(1)
        two.databaseError()
        let text = one.render()
        XCTAssertTrue(text.contains(#"kasparro_api_requests_total{endpoint="/data",status="200"} 2"#), text)
        XCTAssertTrue(text.contains(#"kasparro_api_requests_total{endpoint="other",status="other"} 1"#), text)
        XCTAssertTrue(text.contains(#"kasparro_api_request_duration_seconds_bucket{endpoint="/data",le="0.005"} 1"#), text)
        XCTAssertTrue(text.contains(#"kasparro_api_request_duration_seconds_bucket{endpoint="/data",le="0.25"} 2"#), text)
        XCTAssertTrue(text.contains(#"kasparro_api_request_duration_seconds_count{endpoint="other"} 1"#), text)
        XCTAssertTrue(text.contains("kasparro_api_in_flight_requests 1"), text)
        XCTAssertTrue(text.contains("kasparro_api_database_errors_total 1"), text)
        one.inFlight(-1)
        XCTAssertTrue(two.render().contains("kasparro_api_in_flight_requests 0"))
    }

    func testAFileOfAnotherLayoutIsReplacedAndOlderMappingsKeepTheirs() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 7, count: 64).write(to: URL(fileURLWithPath: path))
        let metrics = try SharedMetrics(path: path)
        metrics.writeFailure()
        XCTAssertTrue(metrics.render().contains("kasparro_api_write_failures_total 1"))
        let again = try SharedMetrics(path: path)
        XCTAssertTrue(again.render().contains("kasparro_api_write_failures_total 1"), "the replacement file is shared")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        XCTAssertGreaterThan(size ?? 0, 64)
    }

    func testInMemoryMetricsLeaveNoFile() {
        let before = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []
        let metrics = SharedMetrics.inMemory()
        metrics.databaseError()
        XCTAssertTrue(metrics.render().contains("kasparro_api_database_errors_total 1"))
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [], before)
    }

    func testPoolThreadsCountLiveProcessesOnly() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let metrics = try SharedMetrics(path: path)
        metrics.registerProcess(threads: 16)
        XCTAssertTrue(metrics.render().contains("kasparro_api_threads 16\n"))
        metrics.unregisterProcess()
        XCTAssertEqual(metrics.poolThreads, 0)
    }

    func testPageCacheGaugesFollowTheCacheOfALiveProcess() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let metrics = try SharedMetrics(path: path)
        metrics.registerProcess(threads: 4)
        let cache = PageCache(maxBytes: 1 << 20, onSize: { metrics.pageCache(bytes: $0, entries: $1) })
        _ = try cache.page("a", version: 1, waitSeconds: 1) { PageCache.Entry(version: 1, tail: Array(repeating: 1, count: 300)) }
        _ = try cache.page("b", version: 1, waitSeconds: 1) { PageCache.Entry(version: 1, tail: Array(repeating: 1, count: 200)) }
        let text = metrics.render()
        XCTAssertTrue(text.contains("kasparro_api_page_cache_bytes 500\n"), text)
        XCTAssertTrue(text.contains("kasparro_api_page_cache_entries 2\n"), text)
        cache.removeAll()
        XCTAssertTrue(metrics.render().contains("kasparro_api_page_cache_bytes 0\n"))
        metrics.pageCache(bytes: 10, entries: 1)
        metrics.unregisterProcess()
        XCTAssertTrue(metrics.render().contains("kasparro_api_page_cache_entries 0\n"), "a stopped process holds nothing")
    }
}
