// The exact-number JSON parser: numbers keep their text, raw element slices, clear errors.
import MarketData
import XCTest

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func testNumbersKeepTheirText() throws {
        let value = try parse(#"{"a": 3.84e-18, "b": 440000000000000000, "c": -0.5, "d": 1E+5}"#)
        XCTAssertEqual(value["a"], .number("3.84e-18"))
        XCTAssertEqual(value["b"], .number("440000000000000000"))
        XCTAssertEqual(value["c"], .number("-0.5"))
        XCTAssertEqual(value["d"], .number("1E+5"))
    }

    func testStringsAndEscapes() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#), .string("a\"b\\c/d\né😀"))
        XCTAssertEqual(try parse("[true, false, null, {}, []]"), .array([.bool(true), .bool(false), .null, .object([:]), .array([])]))
    }

    func testArrayElementsKeepTheirRawText() throws {
        let text = #"[ {"id":"a","x":1.50} , {"id":"b"} ]"#
        let elements = try JSONParser.parseArrayElements(Array(text.utf8))
        XCTAssertEqual(elements.map { String(decoding: $0.raw, as: UTF8.self) }, [#"{"id":"a","x":1.50}"#, #"{"id":"b"}"#])
    }

    func testErrorsSayWhatAndWhere() {
        for (text, words) in [("", "empty body"), ("[{\"id\":\"a\"", "truncated"), ("{\"a\":1}", "expected a JSON array"),
                              ("[01]", "leading zero"), ("[1,]", "invalid value"), ("<html>429</html>", "expected a JSON array")] {
            XCTAssertThrowsError(try JSONParser.parseArrayElements(Array(text.utf8)), text) { error in
                XCTAssertTrue("\(error)".contains(words), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }
}
