// Timestamp parsing (CSV dates, API filters) and RFC 3339 rendering.
import MarketData
import XCTest

final class TimestampTests: XCTestCase {
    func testCSVDateIsUTC() throws {
        let value = try XCTUnwrap(Timestamp.parseCSVDate("29-04-2013 23:59"))
        XCTAssertEqual(value.description, "2013-04-29T23:59:00Z")
        XCTAssertEqual(value.microseconds, 1_367_279_940_000_000)
        XCTAssertEqual(Timestamp.parseCSVDate("06-07-2024 23:59:59")?.description, "2024-07-06T23:59:59Z")
    }

    func testCSVDateRejectsMalformed() {
        for text in ["2013-04-29 23:59", "31-02-2020 00:00", "29-04-2013", "29/04/2013 23:59", "29-13-2013 10:00", "29-04-2013 24:00"] {
            XCTAssertNil(Timestamp.parseCSVDate(text), text)
        }
    }

    func testFilterAcceptsDatesAndRFC3339() {
        XCTAssertEqual(Timestamp.parseFilter("2024-07-06")?.description, "2024-07-06T00:00:00Z")
        XCTAssertEqual(Timestamp.parseFilter("2024-07-06T12:30:00Z")?.description, "2024-07-06T12:30:00Z")
        XCTAssertEqual(Timestamp.parseFilter("2024-07-06T12:30:00+02:00")?.description, "2024-07-06T10:30:00Z")
        XCTAssertEqual(Timestamp.parseFilter("2024-07-06T12:30:00.25Z")?.description, "2024-07-06T12:30:00.250000Z")
        XCTAssertEqual(Timestamp.parseFilter("2024-07-06T12:30:00.123456789Z")?.description, "2024-07-06T12:30:00.123456Z")
        XCTAssertEqual(Timestamp.parseFilter("2024-02-29")?.description, "2024-02-29T00:00:00Z")
    }

    /// Found by `make fuzz` (fuzz-timestamp): an offset moved 9999-12-31 into year 10000, which
    /// prints as no RFC 3339 timestamp (and so could not be written back in a cursor or a link).
    /// A filter names an instant from 0001-01-01 to 9999-12-31 in UTC.
    func testFilterInstantsStayWithinFourDigitYears() {
        XCTAssertNil(Timestamp.parseFilter("9999-12-31T23:59:41-08:00"))
        XCTAssertNil(Timestamp.parseFilter("0001-01-01T00:00:00+00:01"))
        XCTAssertEqual(Timestamp.parseFilter("9999-12-31T15:59:41-08:00")?.description, "9999-12-31T23:59:41Z")
        XCTAssertEqual(Timestamp.parseFilter("0001-01-01T00:00:00Z")?.description, "0001-01-01T00:00:00Z")
    }

    func testFilterRejectsMalformed() {
        for text in ["yesterday", "2024-7-6", "2024-07-06T12:30", "2024-07-06T12:30:00", "2023-02-29", "2024-07-06T12:30:00+2",
                     "2024-07-06T12:30:00.Z", "2024-07-06 extra", "", "2024-07-06T12:30:00Zjunk"] {
            XCTAssertNil(Timestamp.parseFilter(text), text)
        }
    }

    func testRenderingBeforeEpochAndOrdering() throws {
        XCTAssertEqual(Timestamp(microseconds: -1).description, "1969-12-31T23:59:59.999999Z")
        XCTAssertLessThan(try XCTUnwrap(Timestamp.parseFilter("2020-01-01")), try XCTUnwrap(Timestamp.parseFilter("2020-01-02")))
    }
}
