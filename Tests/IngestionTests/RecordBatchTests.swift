// A batch prepared for the database: one record per key (the last wins), in the key's order,
// and the array literals line up with the records.
@testable import Ingestion
import MarketData
import XCTest

final class RecordBatchTests: XCTestCase {
    private func record(_ id: String, at second: Int64, price: String, rank: Int? = nil) -> MarketRecord {
        MarketRecord(source: .csv, sourceID: id, symbol: id.uppercased(), name: "Coin \"\(id)\"",
                     observedAt: Timestamp(microseconds: 1_700_000_000_000_000 + second * 1_000_000),
                     priceUSD: DecimalText(price), marketCapUSD: nil, volume24hUSD: DecimalText("1e3"), rank: rank)
    }

    func testKeepsTheLastRecordOfAKeyInTheKeysOrder() {
        let batch = RecordBatch([
            record("b", at: 60, price: "1"),
            record("a", at: 60, price: "2"),
            record("b", at: 0, price: "3"),
            record("b", at: 60, price: "4", rank: 7),
        ])
        XCTAssertEqual(batch.received, 4, "every record received is counted")
        XCTAssertEqual(batch.records.map(\.sourceID), ["b", "a", "b"])
        XCTAssertEqual(batch.records.map(\.observedAt.microseconds),
                       [1_700_000_000_000_000, 1_700_000_060_000_000, 1_700_000_060_000_000])
        XCTAssertEqual(batch.records.map { $0.priceUSD?.text }, ["3", "2", "4"], "the later record of b at 60 wins")
        XCTAssertEqual(batch.sourceIDs, #"{"b","a","b"}"#)
        XCTAssertEqual(batch.observedAts,
                       #"{"2023-11-14T22:13:20Z","2023-11-14T22:14:20Z","2023-11-14T22:14:20Z"}"#)
        XCTAssertEqual(batch.values, [
            #"{"B","A","B"}"#,
            #"{"Coin \"b\"","Coin \"a\"","Coin \"b\""}"#,
            #"{"3","2","4"}"#,
            "{NULL,NULL,NULL}",
            #"{"1e3","1e3","1e3"}"#,
            #"{NULL,NULL,"7"}"#,
        ])
    }

    func testAnEmptyBatchHasEmptyArrays() {
        let batch = RecordBatch([])
        XCTAssertEqual(batch.received, 0)
        XCTAssertTrue(batch.records.isEmpty)
        XCTAssertEqual(batch.sourceIDs, "{}")
        XCTAssertEqual(batch.values, Array(repeating: "{}", count: 6))
    }
}
