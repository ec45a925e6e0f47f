// What a client is told about a database error: retryable failures are 503s with Retry-After.
@testable import API
import Store
import XCTest

final class ClientErrorTests: XCTestCase {
    private func status(_ state: String?, _ kind: DatabaseError.Kind = .statement) -> (Int, String) {
        let error = ReadSession.clientError(DatabaseError(kind, sqlState: state, detail: "test"))
        return (error.status, error.code)
    }

    /// A hot standby cancels a read that conflicts with the WAL it replays (40001, or 40P01 over a
    /// buffer pin): the same read succeeds a moment later, so it is a 503, not an internal error.
    func testAReadCancelledByRecoveryIsRetryable() {
        XCTAssertEqual(status(SQLState.serializationFailure).0, 503)
        XCTAssertEqual(status(SQLState.deadlockDetected).0, 503)
        XCTAssertNotNil(ReadSession.clientError(DatabaseError(.statement, sqlState: "40001", detail: "")).headers["Retry-After"])
    }

    func testOtherFailuresKeepTheirAnswers() {
        XCTAssertEqual(status(SQLState.queryCanceled).0, 503)
        XCTAssertEqual(status(nil, .connection).0, 503)
        XCTAssertEqual(status("42P01").0, 500)  // undefined table: a defect, not a retry
        XCTAssertEqual(status("22021", .parameter).0, 400)
    }
}
