// DecimalText: which source numbers are accepted, kept digit for digit.
import MarketData
import XCTest

final class DecimalTextTests: XCTestCase {
    func testAcceptsPlainDecimalsAndENotationVerbatim() throws {
        for text in ["0", "134", "147.48800659", "6.32696E+11", "9.86E-05", "3.84e-18", "440000000000000000", "-1.5", ".5", "5."] {
            let value = try XCTUnwrap(DecimalText(text), text)
            XCTAssertEqual(value.text, text)
        }
    }

    func testRejectsNonNumbers() {
        for text in ["", " ", "abc", "1,000", "NaN", "inf", "1e", "1e+", "--1", "1.2.3", "0x10", "1e99999", "1 2"] {
            XCTAssertNil(DecimalText(text), text)
        }
    }

    func testSignAndZero() throws {
        XCTAssertTrue(try XCTUnwrap(DecimalText("-0.1")).isNegative)
        XCTAssertFalse(try XCTUnwrap(DecimalText("-0.0")).isNegative)
        XCTAssertTrue(try XCTUnwrap(DecimalText("0.000")).isZero)
        XCTAssertFalse(try XCTUnwrap(DecimalText("9.86E-05")).isZero)
    }

    func testTrimsBlanksAndCR() throws {
        XCTAssertEqual(try XCTUnwrap(DecimalText(" 12.5\r")).text, "12.5")
    }
}
