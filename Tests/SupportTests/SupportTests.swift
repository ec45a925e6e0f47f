// JSON string escaping, blank trimming and strict environment settings.
import Foundation
import Support
import XCTest

final class JSONStringTests: XCTestCase {
    func testEscapesQuotesBackslashesAndControls() {
        XCTAssertEqual(jsonString("plain"), "\"plain\"")
        XCTAssertEqual(jsonString("a\"b\\c"), #""a\"b\\c""#)
        XCTAssertEqual(jsonString("l1\nl2\r\t"), #""l1\nl2\r\t""#)
        XCTAssertEqual(jsonString("\u{01}\u{7F}"), #""\u0001\u007f""#)
        XCTAssertEqual(jsonString("€ ok"), "\"€ ok\"")
    }

    func testRoundTripsThroughAJSONParser() throws {
        let text = "quote \" slash \\ nul-free \u{1F} emoji 🚀"
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(jsonString(text))]".utf8)) as? [String]
        XCTAssertEqual(parsed, [text])
    }
}

final class BlanksTests: XCTestCase {
    func testTrimsSpacesTabsAndLineEnds() {
        XCTAssertEqual(" \t BTC \r\n".trimmingBlanks(), "BTC")
        XCTAssertEqual("   ".trimmingBlanks(), "")
        XCTAssertEqual("a b".trimmingBlanks(), "a b")
    }
}

final class EnvironmentSettingsTests: XCTestCase {
    private enum Plan: String, CaseIterable { case demo, pro }

    func testUnsetOrEmptyMeansTheDefault() throws {
        let settings = EnvironmentSettings(["EMPTY": ""])
        XCTAssertEqual(try settings.integer("EMPTY", default: 7, in: 1...10), 7)
        XCTAssertEqual(try settings.integer("UNSET", default: 7, in: 1...10), 7)
        XCTAssertEqual(try settings.number("UNSET", default: 0.5, in: 0...1), 0.5)
        XCTAssertEqual(try settings.choice("UNSET", default: Plan.demo), .demo)
    }

    func testGoodValuesParse() throws {
        let settings = EnvironmentSettings(["N": "9", "X": "0.25", "P": "PRO"])
        XCTAssertEqual(try settings.integer("N", default: 1, in: 1...10), 9)
        XCTAssertEqual(try settings.number("X", default: 0, in: 0...1), 0.25)
        XCTAssertEqual(try settings.choice("P", default: Plan.demo), .pro)
    }

    func testBadValuesNameTheVariableAndWhatIsAllowed() {
        let settings = EnvironmentSettings(["N": "abc", "BIG": "11", "X": "abc", "NAN": "nan", "P": "gold"])
        let cases: [(() throws -> Any, String)] = [
            ({ try settings.integer("N", default: 1, in: 1...10) }, "N must be a whole number from 1 to 10, got \"abc\""),
            ({ try settings.integer("BIG", default: 1, in: 1...10) }, "BIG must be a whole number from 1 to 10, got \"11\""),
            ({ try settings.number("X", default: 0, in: 0...1) }, "X must be a number from 0.0 to 1.0, got \"abc\""),
            ({ try settings.number("NAN", default: 0, in: 0...1) }, "NAN must be a number"),
            ({ try settings.choice("P", default: Plan.demo) }, "P must be one of demo, pro, got \"gold\""),
        ]
        for (call, message) in cases {
            XCTAssertThrowsError(try call()) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }
}
