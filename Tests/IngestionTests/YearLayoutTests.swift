import XCTest
@testable import Ingestion
import MarketData
import Support

/// Pure parts of the year layout: retention settings, raw page offsets, month arithmetic.
final class YearLayoutTests: XCTestCase {
    private func config(_ extra: [String: String]) throws -> ETLConfig {
        try ETLConfig(environment: ["DATABASE_URL": "postgresql://kasparro_etl@localhost/kasparro"].merging(extra) { $1 })
    }

    func testRetentionKeepsEverythingByDefault() throws {
        XCTAssertFalse(try config([:]).retention.isActive)
        XCTAssertFalse(try config(["RETENTION_MARKET_MONTHS": "0"]).retention.isActive)
        XCTAssertEqual(try config(["RETENTION_MARKET_MONTHS": "12"]).retention, try RetentionPolicy(marketMonths: 12, rawMonths: nil))
    }

    func testRawPayloadsAreNeverKeptShorterThanTheirRecords() {
        XCTAssertThrowsError(try config(["RETENTION_RAW_MONTHS": "6"])) { error in
            XCTAssertTrue("\(error)".contains("RETENTION_MARKET_MONTHS"), "\(error)")
        }
        XCTAssertThrowsError(try config(["RETENTION_MARKET_MONTHS": "12", "RETENTION_RAW_MONTHS": "6"])) { error in
            XCTAssertTrue("\(error)".contains("RETENTION_RAW_MONTHS=6 is shorter"), "\(error)")
        }
        XCTAssertNoThrow(try config(["RETENTION_MARKET_MONTHS": "6", "RETENTION_RAW_MONTHS": "12"]))
        XCTAssertThrowsError(try config(["RETENTION_MARKET_MONTHS": "soon"]))
    }

    func testRawPageLocatesEachRecordInTheBody() throws {
        let body = Array(#"[ {"id":"a","x":1},{"x":2} ,{"id":"c"}]"#.utf8)
        let page = RawPage(number: 1, body: body, records: try JSONParser.parseArrayElements(body))
        XCTAssertEqual(page.ids, ["a", "#1", "c"])
        for (start, length) in zip(page.starts, page.lengths) {
            let slice = String(decoding: body[start..<start + length], as: UTF8.self)
            XCTAssertTrue(slice.hasPrefix("{") && slice.hasSuffix("}"), slice)
        }
        XCTAssertEqual(String(decoding: body[page.starts[1]..<page.starts[1] + page.lengths[1]], as: UTF8.self), #"{"x":2}"#)
        XCTAssertEqual(hexString([0x00, 0x7f, 0xff, 0x5b]), "007fff5b")
    }

    func testPageSplitsIntoSkeletonAndNumbersAndJoinsBack() throws {
        let split = try XCTUnwrap(PageSplit(Array(#"[{"id":"e-1","p":-1.5e-7,"v":12,"d":"2024-12-04T10:35:25.220Z","n":"Ether"}]"#.utf8)))
        XCTAssertEqual(split.numbers, "e-1,-1.5e-7,12,2024-12-04,10,35,25.220")
        XCTAssertEqual(split.skeleton, "[{\"id\":\"\u{1}\",\"p\":\u{1},\"v\":\u{1},\"d\":\"\u{1}T\u{1}:\u{1}:\u{1}Z\",\"n\":\"Ether\"}]")
        let cases = ["", "7", "[]", "no digits at all, e+E-.", "12,34", "[1,2,3]", "Ωmega 1 ∑ 2", " 1 ", "1e", "e1", "--1--"]
        for text in cases {
            let body = Array(text.utf8)
            let split = try XCTUnwrap(PageSplit(body), text)
            XCTAssertEqual(split.joined, body, text)
            XCTAssertEqual(split.skeleton.utf8.filter { $0 == 1 }.count,
                           split.numbers.isEmpty ? 0 : split.numbers.split(separator: ",").count, text)
        }
        // What text cannot carry, or what would be taken for a marker, keeps the bytes as they are.
        XCTAssertNil(PageSplit([0x5b, 0x00, 0x5d]))
        XCTAssertNil(PageSplit([0x5b, 0x01, 0x5d]))
        XCTAssertNil(PageSplit([0x5b, 0xff, 0x5d]))
    }

    func testMonthsAcrossYearsAndBeforeTheEpoch() {
        let t = Timestamp.parseFilter("2026-11-23T23:05:00Z")!
        XCTAssertEqual(t.monthStart, Timestamp.parseFilter("2026-11-01")!)
        XCTAssertEqual(t.months(from: 2), Timestamp.parseFilter("2027-01-01")!)
        XCTAssertEqual(t.months(from: -23), Timestamp.parseFilter("2024-12-01")!)
        XCTAssertEqual(Timestamp.parseFilter("1969-01-15")!.months(from: -1), Timestamp.parseFilter("1968-12-01")!)
    }
}
