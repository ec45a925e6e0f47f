// The router without libfcgi or a database: routing, methods, error shape, headers.
import API
import HTTPMessage
import Foundation
import Logging
import XCTest

final class RouterTests: XCTestCase {
    // Nothing listens on port 1: any handler that reached the database would answer 503.
    let session = ReadSession(conninfo: "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1",
                              logger: Logger(label: "test"))
    let router = Router()

    private func json(_ response: Response) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    func testUnknownPathIs404JSON() throws {
        let response = router.handle(Request(method: "GET", path: "/nope", requestID: "r1"), session: session)
        XCTAssertEqual(response.status, 404)
        let body = try json(response)
        XCTAssertEqual((body["error"] as? [String: Any])?["code"] as? String, "not_found")
        XCTAssertEqual(body["request_id"] as? String, "r1")
        XCTAssertNotNil(body["api_latency_ms"] as? Double)
        XCTAssertTrue(response.headers.contains { $0 == ("X-Request-ID", "r1") })
    }

    func testOtherMethodsAre405WithAllow() throws {
        let response = router.handle(Request(method: "POST", path: "/data", requestID: "r2"), session: session)
        XCTAssertEqual(response.status, 405)
        XCTAssertTrue(response.headers.contains { $0.0 == "Allow" })
    }

    func testBadParameterIsAnsweredBeforeTheDatabase() throws {
        let response = router.handle(Request(method: "GET", path: "/data", query: "page_size=0", requestID: "r3"), session: session)
        XCTAssertEqual(response.status, 400)
        let message = try XCTUnwrap((try json(response)["error"] as? [String: Any])?["message"] as? String)
        XCTAssertTrue(message.contains("page_size"), message)
    }

    func testUnreachableDatabaseIs503WithoutDetail() throws {
        let response = router.handle(Request(method: "GET", path: "/data", requestID: "r4"), session: session)
        XCTAssertEqual(response.status, 503)
        XCTAssertFalse(response.text.lowercased().contains("connection refused"))
        let health = router.handle(Request(method: "GET", path: "/health", requestID: "r5"), session: session)
        XCTAssertEqual(health.status, 503)
        XCTAssertEqual(try json(health)["status"] as? String, "unhealthy")
    }

    func testRunsValidatesItsParameters() throws {
        for query in ["limit=0", "status=done", "source=x", "foo=1"] {
            let response = router.handle(Request(method: "GET", path: "/runs", query: query, requestID: "r"), session: session)
            XCTAssertEqual(response.status, 400, query)
        }
    }
}
