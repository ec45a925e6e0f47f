// Backoff bounds and both forms of Retry-After.
@testable import Ingestion
import Foundation
import XCTest

final class RetryPolicyTests: XCTestCase {
    let policy = RetryPolicy(maxAttempts: 5, baseDelay: 0.5, maxDelay: 4, maxTotalSeconds: 60)

    func testBackoffDoublesWithJitterAndACap() {
        XCTAssertEqual(policy.backoff(attempt: 1, random: 0), 0.25)
        XCTAssertEqual(policy.backoff(attempt: 1, random: 1), 0.5)
        XCTAssertEqual(policy.backoff(attempt: 3, random: 1), 2)
        XCTAssertEqual(policy.backoff(attempt: 10, random: 1), 4)
    }

    func testRetryAfterSecondsAndHTTPDate() {
        XCTAssertEqual(RetryPolicy.retryAfter("7"), 7)
        let now = Date(timeIntervalSince1970: 1_739_122_000)
        XCTAssertEqual(RetryPolicy.retryAfter("Sun, 09 Feb 2025 17:26:43 GMT", now: now), 3)
        XCTAssertNil(RetryPolicy.retryAfter("soon"))
        XCTAssertNil(RetryPolicy.retryAfter(nil))
    }

    func testKeyFilesAndPlans() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID())")
        try "  test-key\n".write(to: file, atomically: true, encoding: .utf8)
        let config = try ETLConfig(environment: ["DATABASE_URL": "host=db", "COINGECKO_API_KEY_FILE": file.path,
                                                 "COINGECKO_API_PLAN": "pro", "COINPAPRIKA_API_KEY": "pk"])
        XCTAssertEqual(config.coingecko.headers, ["x-cg-pro-api-key: test-key"])
        XCTAssertEqual(config.coingecko.baseURL, "https://pro-api.coingecko.com/api/v3")
        XCTAssertEqual(config.coinpaprika.headers, ["Authorization: pk"])
        XCTAssertEqual(config.coingeckoMaxPages, 2)
        XCTAssertThrowsError(try ETLConfig(environment: ["DATABASE_URL": "host=db", "COINGECKO_API_PLAN": "gold"]))
    }
}
