// The settings every session is opened with (libpq `options`).
@testable import Store
import XCTest

final class SessionOptionsTests: XCTestCase {
    func testAPISessionsKeepOnePlanAndStartNoParallelWorkers() {
        let api = Connection.sessionOptions(statementTimeoutMS: 5000, genericPlans: true)
        XCTAssertTrue(api.contains("-c plan_cache_mode=force_generic_plan"))
        XCTAssertTrue(api.contains("-c max_parallel_workers_per_gather=0"), api)
        XCTAssertTrue(api.contains("-c jit=off") && api.contains("-c statement_timeout=5000"))
    }

    func testOtherSessionsKeepPostgreSQLsPlanning() {
        let etl = Connection.sessionOptions(statementTimeoutMS: 0, genericPlans: false)
        XCTAssertEqual(etl, "-c TimeZone=UTC -c jit=off -c statement_timeout=0")
    }
}
