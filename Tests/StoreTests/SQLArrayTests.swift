// PostgreSQL array literals: quoting, escaping and NULLs.
import Store
import XCTest

final class SQLArrayTests: XCTestCase {
    func testQuotesEveryElementAndEscapesQuotesAndBackslashes() {
        XCTAssertEqual(sqlArrayLiteral(["a", "b c", "say \"hi\"", #"back\slash"#]),
                       #"{"a","b c","say \"hi\"","back\\slash"}"#)
    }

    func testNilIsNullAndEmptyIsAnEmptyString() {
        XCTAssertEqual(sqlArrayLiteral([nil, "", "NULL"] as [String?]), #"{NULL,"","NULL"}"#)
    }

    func testEmptySequenceAndUnicode() {
        XCTAssertEqual(sqlArrayLiteral([String]()), "{}")
        XCTAssertEqual(sqlArrayLiteral(["Ωmega", "{,}"]), #"{"Ωmega","{,}"}"#)
    }
}
