// /data parameter validation: every bad value is a 400 that names its parameter.
@testable import API
import MarketData
import XCTest

final class DataQueryTests: XCTestCase {
    private func error(_ query: String, file: StaticString = #filePath, line: UInt = #line) -> APIError? {
        do {
            _ = try DataQuery(query: query)
            XCTFail("expected a 400 for \(query)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.status, 400, file: file, line: line)
            return error
        }
    }

    func testDefaults() throws {
        let query = try DataQuery(query: "")
        XCTAssertEqual(query.paging, .page(number: 1, size: 50))
        XCTAssertNil(query.source)
    }

    func testFiltersAndPaging() throws {
        let query = try DataQuery(query: "page=3&page_size=20&source=csv&symbol=btc&asset_id=4&since=2024-01-01&until=2024-02-01T00:00:00Z")
        XCTAssertEqual(query.paging, .page(number: 3, size: 20))
        XCTAssertEqual(query.offset, 40)
        XCTAssertEqual(query.source, .csv)
        XCTAssertEqual(query.symbol, "btc")
        XCTAssertEqual(query.assetID, 4)
        XCTAssertEqual(query.since?.description, "2024-01-01T00:00:00Z")
        XCTAssertEqual(try DataQuery(query: "limit=10&offset=30").paging, .offset(limit: 10, offset: 30))
    }

    func testEachBadParameterIsNamed() {
        let cases: [(String, String)] = [
            ("page_size=0", "page_size"), ("page_size=501", "page_size"), ("page_size=abc", "page_size"),
            ("page=-1", "page"), ("page=0", "page"), ("limit=0", "limit"), ("offset=-5", "offset"),
            ("source=binance", "source"), ("since=yesterday", "since"), ("until=2024-13-01", "until"),
            ("cursor=garbage!", "cursor"), ("asset_id=x", "asset_id"),
            ("page=1&limit=5", "page"), ("page_size=5&offset=5", "page_size"), ("page=1&page=2", "page"),
            ("symbol=%ZZ", "symbol"), ("symbol=%FF", "symbol"), ("symbol=a%00b", "symbol"),
            ("page_size=99999999999999999999999", "page_size"),
        ]
        for (query, name) in cases {
            guard let error = error(query) else { continue }
            XCTAssertTrue(error.message.hasPrefix(name + ":"), "\(query) → \(error.message)")
        }
    }

    func testUnknownParameterListsTheAllowedOnes() {
        let error = error("pagesize=5")
        XCTAssertEqual(error?.code, "unknown_parameter")
        XCTAssertTrue(error?.message.contains("page_size") ?? false)
    }

    func testLiteralSpecialCharactersAreAccepted() throws {
        XCTAssertEqual(try DataQuery(query: "symbol=%27%25_%5C").symbol, "'%_\\")
        XCTAssertEqual(try DataQuery(query: "symbol=a+b").symbol, "a b")
    }

    func testCursorRoundTripAndMixing() throws {
        let cursor = DataQuery.Cursor(observedAt: Timestamp(microseconds: 1_720_223_940_000_000), source: "csv", sourceID: "bit|coin")
        let decoded = try XCTUnwrap(DataQuery.Cursor(encoded: cursor.encoded))
        XCTAssertEqual(decoded, cursor)
        XCTAssertEqual(try DataQuery(query: "cursor=\(cursor.encoded)&page_size=10").paging, .cursor(cursor, size: 10))
        XCTAssertNotNil(error("cursor=\(cursor.encoded)&page=2"))
        XCTAssertNotNil(error("cursor=\(cursor.encoded)&offset=2"))
        XCTAssertNil(DataQuery.Cursor(encoded: "djJ8MXxjc3Z8eA"))  // v2|1|csv|x
    }

    /// Found by `make fuzz` (fuzz-cursor): base64 whose last character carries bits the API never
    /// sets ("…Qm" where the API writes "…Qg") decoded to the API's cursor. Only the API's own
    /// text decodes.
    func testACursorDecodesOnlyTheTextTheAPIWrote() throws {
        let cursor = try XCTUnwrap(DataQuery.Cursor(encoded: "djF8LTF8Y3N2fGNvaW5fQg"))  // v1|-1|csv|coin_B
        XCTAssertEqual(cursor.encoded, "djF8LTF8Y3N2fGNvaW5fQg")
        XCTAssertNil(DataQuery.Cursor(encoded: "djF8LTF8Y3N2fGNvaW5fQm"))
        XCTAssertNil(DataQuery.Cursor(encoded: "djF8LTF8Y3N2fGNvaW5fQg=="))  // padding the API leaves out
    }

    /// The cursor is base64url: `-` and `_` where base64 has `+` and `/`, which a cursor may not use.
    func testACursorIsBase64URL() throws {
        let cursor = DataQuery.Cursor(observedAt: Timestamp(microseconds: 1_700_000_000_000_000), source: "csv",
                                      sourceID: "\u{0BFF} ")  // encodes to …4K-_IA
        XCTAssertTrue(cursor.encoded.contains("-") && cursor.encoded.contains("_"), cursor.encoded)
        XCTAssertFalse(cursor.encoded.contains("+") || cursor.encoded.contains("/") || cursor.encoded.contains("="))
        XCTAssertEqual(DataQuery.Cursor(encoded: cursor.encoded), cursor)
        XCTAssertNil(DataQuery.Cursor(encoded: cursor.encoded.replacingOccurrences(of: "-", with: "+")))
        XCTAssertNil(DataQuery.Cursor(encoded: cursor.encoded.replacingOccurrences(of: "_", with: "/")))
        XCTAssertNil(DataQuery.Cursor(encoded: ""))
        XCTAssertNil(DataQuery.Cursor(encoded: String(repeating: "A", count: 1028)))
    }

    /// Found by `make fuzz` (fuzz-cursor): a source id that starts with a combining mark joined the
    /// `|` before it into one Character, so the cursor the API wrote for that row did not decode.
    func testACursorWhoseSourceIDStartsWithACombiningMarkDecodes() throws {
        let cursor = DataQuery.Cursor(observedAt: Timestamp(microseconds: -1), source: "coingecko", sourceID: "\u{0339}x|y")
        XCTAssertEqual(DataQuery.Cursor(encoded: cursor.encoded), cursor)
    }

    func testEachPagingGetsItsStatementShape() throws {
        // The first page: one prepared statement, LIMIT bound.
        let first = try DataQuery(query: "symbol=btc").statement(knownVersion: 1, knownTotal: 2)
        XCTAssertTrue(first.prepared)
        XCTAssertFalse(first.sql.contains("OFFSET") || first.sql.contains("UNION"))
        // Deep pages: keys first, then each row by its key; LIMIT and OFFSET written in, not prepared.
        let deep = try DataQuery(query: "page=901&page_size=50").statement(knownVersion: 1, knownTotal: 2)
        XCTAssertFalse(deep.prepared)
        XCTAssertTrue(deep.sql.contains("LIMIT 51 OFFSET 45000") && deep.sql.contains("CROSS JOIN LATERAL"), deep.sql)
        XCTAssertTrue(deep.sql.contains("45000 < v.total"), "a page past the end reads no key: \(deep.sql)")
        XCTAssertTrue(try DataQuery(query: "limit=10&offset=7").statement(knownVersion: 1, knownTotal: 2).sql.contains("LIMIT 11 OFFSET 7"))
        // Cursors: the rest of the cursor's instant, then what is before it, both prepared.
        let cursor = DataQuery.Cursor(observedAt: Timestamp(microseconds: 1_720_223_940_000_000), source: "csv", sourceID: "x")
        let next = try DataQuery(query: "cursor=\(cursor.encoded)&source=csv").statement(knownVersion: 1, knownTotal: 2)
        XCTAssertTrue(next.prepared)
        XCTAssertTrue(next.sql.contains("m.observed_at = $") && next.sql.contains("(m.source, m.source_id) > ($")
                      && next.sql.contains("UNION ALL") && next.sql.contains("m.observed_at < $"), next.sql)
        XCTAssertEqual(next.params.filter { $0 == "csv" }.count, 1, "the cursor's source, bound")
        XCTAssertTrue(next.sql.contains("m.source = 'csv'") && next.sql.contains("c.source = 'csv'"),
                      "the source filter written in, so the planner sees how many rows it has: \(next.sql)")
    }
}

/// Whole buckets from the rollups, partial ones from the table: never overlapping, never missing.
final class TotalPlanTests: XCTestCase {
    private func at(_ text: String) -> Timestamp { Timestamp.parseFilter(text)! }

    func testOpenRangeSumsEveryBucket() {
        let plan = TotalPlan(since: nil, until: nil, fine: false)
        XCTAssertEqual(plan.table, "market_counts_hourly")
        XCTAssertEqual(plan.buckets, TotalPlan.Span(from: nil, to: nil))
        XCTAssertEqual(plan.edges, [])
    }

    func testAlignedBoundsNeedNoEdges() {
        let plan = TotalPlan(since: at("2024-07-01"), until: at("2024-09-01"), fine: true)
        XCTAssertEqual(plan.table, "market_counts_monthly")
        XCTAssertEqual(plan.buckets, TotalPlan.Span(from: at("2024-07-01"), to: at("2024-09-01")))
        XCTAssertEqual(plan.edges, [])
    }

    func testPartialBucketsAtBothEdges() {
        let plan = TotalPlan(since: at("2024-01-31T10:30:00Z"), until: at("2024-03-03T05:00:00Z"), fine: true)
        XCTAssertEqual(plan.buckets, TotalPlan.Span(from: at("2024-02-01"), to: at("2024-03-01")))
        XCTAssertEqual(plan.edges, [TotalPlan.Edge(from: at("2024-01-31T10:30:00Z"), to: at("2024-02-01")),
                                    TotalPlan.Edge(from: at("2024-03-01"), to: at("2024-03-03T05:00:00Z"))])
        // December rolls over into the next year.
        let december = TotalPlan(since: at("2023-12-15"), until: nil, fine: true)
        XCTAssertEqual(december.buckets, TotalPlan.Span(from: at("2024-01-01"), to: nil))
        XCTAssertEqual(december.edges, [TotalPlan.Edge(from: at("2023-12-15"), to: at("2024-01-01"))])
        let hourly = TotalPlan(since: at("2024-07-01T10:30:00Z"), until: nil, fine: false)
        XCTAssertEqual(hourly.buckets, TotalPlan.Span(from: at("2024-07-01T11:00:00Z"), to: nil))
        XCTAssertEqual(hourly.edges, [TotalPlan.Edge(from: at("2024-07-01T10:30:00Z"), to: at("2024-07-01T11:00:00Z"))])
    }

    func testRangesInsideOneOrTwoBuckets() {
        let same = TotalPlan(since: at("2024-07-01T10:10:00Z"), until: at("2024-07-01T10:50:00Z"), fine: false)
        XCTAssertNil(same.buckets)
        XCTAssertEqual(same.edges, [TotalPlan.Edge(from: at("2024-07-01T10:10:00Z"), to: at("2024-07-01T10:50:00Z"))])
        let adjacent = TotalPlan(since: at("2024-07-01T10:30:00Z"), until: at("2024-07-01T11:15:00Z"), fine: false)
        XCTAssertNil(adjacent.buckets)
        XCTAssertEqual(adjacent.edges.count, 2)
        XCTAssertEqual(TotalPlan(since: at("2024-07-01"), until: at("2024-07-01"), fine: true).edges, [])
        let month = TotalPlan(since: at("2024-02-03"), until: at("2024-02-29T12:00:00Z"), fine: true)
        XCTAssertNil(month.buckets)
        XCTAssertEqual(month.edges, [TotalPlan.Edge(from: at("2024-02-03"), to: at("2024-02-29T12:00:00Z"))])
    }

    func testARangeEndingBeforeItStartsIsEmptyNotAnError() throws {
        // since after until (or equal): a valid request for an empty range, counted as nothing.
        let query = try DataQuery(query: "since=2024-02-01&until=2024-01-01T10:30:00Z&symbol=btc")
        XCTAssertEqual(query.since?.description, "2024-02-01T00:00:00Z")
        for fine in [false, true] {
            let plan = TotalPlan(since: at("2024-02-01T10:30:00Z"), until: at("2024-01-01T10:30:00Z"), fine: fine)
            XCTAssertNil(plan.buckets)
            XCTAssertEqual(plan.edges, [])
        }
    }

    func testBeforeTheEpoch() {
        let plan = TotalPlan(since: at("1969-12-31T23:30:00Z"), until: nil, fine: false)
        XCTAssertEqual(plan.buckets?.from, at("1970-01-01"))
        XCTAssertEqual(at("1969-12-31T23:30:00Z").monthStart, at("1969-12-01"))
        XCTAssertEqual(at("1969-12-31T23:30:00Z").months(from: -12), at("1968-12-01"))
    }
}
