// The response builder: separators, escaping, numbers from libpq bytes and timestamps.
@testable import API
import Foundation
import XCTest

final class JSONWriterTests: XCTestCase {
    private func withBytes<T>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        Array(text.utf8).withUnsafeBufferPointer(body)
    }

    func testFieldsAndElementsGetTheirCommas() throws {
        var out = JSONWriter(capacity: 64)
        out.openObject()
        out.field("a", Int64(1))
        out.field("b", "two")
        out.field("c", nil)
        out.field("d", true)
        out.field("list")
        out.openArray()
        for n in 1...3 {
            out.element()
            out.openObject()
            out.field("n", Int64(n))
            out.closeObject()
        }
        out.closeArray()
        out.field("empty")
        out.openArray()
        out.closeArray()
        out.closeObject()
        XCTAssertEqual(out.text, #"{"a":1,"b":"two","c":null,"d":true,"list":[{"n":1},{"n":2},{"n":3}],"empty":[]}"#)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(out.bytes)))
    }

    func testByteStringsAreEscaped() throws {
        var out = JSONWriter(capacity: 16)
        withBytes("q\"b\\n\nt\t\u{01}é") { out.string($0) }
        XCTAssertEqual(out.text, #""q\"b\\n\nt\t\u0001é""#)
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(out.text)]".utf8)) as? [String]
        XCTAssertEqual(parsed, ["q\"b\\n\nt\t\u{01}é"])
    }

    func testPostgresTimestampsBecomeRFC3339() {
        var out = JSONWriter(capacity: 64)
        withBytes("2024-07-06 23:59:00+00") { out.timestamp($0) }
        out.raw(",")
        withBytes("2024-07-06 23:59:00.123456+00") { out.timestamp($0) }
        out.raw(",")
        // Anything else is kept as a plain string rather than mangled.
        withBytes("2024-07-06 23:59:00+02") { out.timestamp($0) }
        XCTAssertEqual(out.text, #""2024-07-06T23:59:00Z","2024-07-06T23:59:00.123456Z","2024-07-06 23:59:00+02""#)
    }

    func testEnvelopeOpensTheBody() throws {
        var out = envelope(requestID: "r\"1", latencyMS: 1.5)
        out.field("x", Int64(3))
        out.closeObject()
        XCTAssertEqual(out.text, #"{"request_id":"r\"1","api_latency_ms":1.500,"x":3}"#)
    }

    func testPostgreSQLBuiltJSONIsCompactedOutsideStrings() throws {
        var out = JSONWriter(capacity: 64)
        out.openObject()
        // json_build_object's text, with spaces, a quote and a backslash inside strings.
        out.field("etl", json: #"{"csv" : {"last_error" : "a \" b : c\\", "runs" : [1, 2]},\#n "x" : null}"#)
        out.closeObject()
        XCTAssertEqual(out.text, #"{"etl":{"csv":{"last_error":"a \" b : c\\","runs":[1,2]},"x":null}}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: Any]
        XCTAssertNotNil(parsed?["etl"])
    }
}
