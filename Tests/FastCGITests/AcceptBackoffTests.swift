// The accept loop's back-off: one log line per streak of failures, doubling delays with a cap.
@testable import FastCGI
import XCTest

final class AcceptBackoffTests: XCTestCase {
    func testDoublesUpToASecondAndLogsOncePerStreak() {
        var backoff = AcceptBackoff()
        XCTAssertFalse(backoff.recovered(), "no streak yet")
        XCTAssertEqual(backoff.failed(), 10_000, "the first failure of a streak is logged")
        var delays = [backoff.delayMicros]
        for _ in 0..<10 {
            XCTAssertNil(backoff.failed(), "later failures of the streak are not")
            delays.append(backoff.delayMicros)
        }
        XCTAssertEqual(Array(delays.prefix(4)), [10_000, 20_000, 40_000, 80_000])
        XCTAssertEqual(delays.last, 1_000_000)
        XCTAssertTrue(backoff.recovered(), "a success ends the streak")
        XCTAssertEqual(backoff.delayMicros, 0)
        XCTAssertEqual(backoff.failed(), 10_000, "a new streak is logged again")
    }
}
