// What /data offers clients besides the JSON page: representations, validators, paging links, CSV fields.
@testable import API
import MarketData
import XCTest

final class ConditionalAndCSVTests: XCTestCase {
    func testAcceptChoosesCSVOnlyWhenAskedAndNotOutranked() {
        XCTAssertEqual(Representation(accept: nil), .json)
        XCTAssertEqual(Representation(accept: "*/*"), .json)
        XCTAssertEqual(Representation(accept: "text/csv"), .csv)
        XCTAssertEqual(Representation(accept: "Text/CSV; charset=utf-8"), .csv)
        XCTAssertEqual(Representation(accept: "application/json, text/csv;q=0.5"), .json)
        XCTAssertEqual(Representation(accept: "application/json;q=0.4, text/csv"), .csv)
        XCTAssertEqual(Representation(accept: "text/csv;q=0"), .json)
        XCTAssertEqual(Representation.csv.key("p1,50|||||"), "csv|p1,50|||||")
        XCTAssertEqual(Representation.csv.unkeyed("csv|p1,50|||||"), "p1,50|||||")
        XCTAssertEqual(Representation.json.key("k"), "k")
    }

    func testETagsNameTimelineVersionQueryAndRepresentation() {
        let tag = ETag.make(timeline: 1, version: 42, key: "p1,50|||||")
        XCTAssertTrue(tag.hasPrefix("W/\"1.42."), tag)
        XCTAssertNotEqual(tag, ETag.make(timeline: 2, version: 42, key: "p1,50|||||"), "another timeline")
        XCTAssertNotEqual(tag, ETag.make(timeline: 1, version: 43, key: "p1,50|||||"), "another version")
        XCTAssertNotEqual(tag, ETag.make(timeline: 1, version: 42, key: "csv|p1,50|||||"), "another representation")
        XCTAssertNotEqual(tag, ETag.make(timeline: 1, version: 42, key: "p2,50|||||"), "another page")
        XCTAssertTrue(ETag.matches(tag, tag))
        XCTAssertTrue(ETag.matches("\"x\", " + tag, tag), "a list")
        XCTAssertTrue(ETag.matches(String(tag.dropFirst(2)), tag), "compared weakly")
        XCTAssertTrue(ETag.matches("*", tag))
        XCTAssertFalse(ETag.matches("W/\"1.41.0\"", tag))
    }

    func testNextLinkKeepsFiltersAndPagesByCursor() throws {
        let query = try DataQuery(query: "symbol=b%26c&since=2024-01-01&page=3&page_size=20")
        let cursor = DataQuery.Cursor(observedAt: Timestamp(microseconds: 1_700_000_000_000_000), source: "csv", sourceID: "coin_A.csv")
        let link = query.nextLink(cursor)
        XCTAssertEqual(link, "/data?symbol=b%26c&since=2024-01-01T00%3A00%3A00Z&page_size=20&cursor=\(cursor.encoded)")
        // The link parses back into the same filters, on the cursor's page.
        let next = try DataQuery(query: String(link.dropFirst("/data?".count)))
        XCTAssertEqual(next.symbol, "b&c")
        XCTAssertEqual(next.since, query.since)
        XCTAssertEqual(next.paging, .cursor(cursor, size: 20))
    }

    func testCSVFieldsQuoteAndDisarmFormulas() {
        func field(_ text: String) -> String {
            var out = JSONWriter(capacity: 16)
            Array(text.utf8).withUnsafeBufferPointer { out.csvField($0) }
            return out.text
        }
        XCTAssertEqual(field("Bitcoin"), "Bitcoin")
        XCTAssertEqual(field("a,b"), "\"a,b\"")
        XCTAssertEqual(field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(field("two\nlines"), "\"two\nlines\"")
        XCTAssertEqual(field("=HYPERLINK(1)"), "'=HYPERLINK(1)")
        XCTAssertEqual(field("-1+2"), "'-1+2")
        XCTAssertEqual(field("@x,y"), "\"'@x,y\"")
    }
}
