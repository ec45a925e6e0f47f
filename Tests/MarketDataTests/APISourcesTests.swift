// CoinPaprika and CoinGecko normalizers on the full real payloads and on hand-made bad records.
import Foundation
import MarketData
import XCTest

final class APISourcesTests: XCTestCase {
    let now = Timestamp.parseFilter("2026-01-01")!
    let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/samples").standardized

    private func elements(_ path: String) throws -> [(value: JSONValue, raw: ArraySlice<UInt8>)] {
        try JSONParser.parseArrayElements([UInt8](Data(contentsOf: samples.appendingPathComponent(path))))
    }

    func testEveryRealPaprikaTickerNormalizes() throws {
        let tickers = try elements("coinpaprika/tickers_quotes-USD_2021-08-12.json")
        XCTAssertEqual(tickers.count, 3795)
        let records = try tickers.map { try CoinPaprika.record($0.value, now: now) }
        let btc = try XCTUnwrap(records.first { $0.sourceID == "btc-bitcoin" })
        XCTAssertEqual(btc.symbol, "BTC")
        XCTAssertEqual(btc.priceUSD?.text, "44456.514304206")
        XCTAssertEqual(btc.marketCapUSD?.text, "835075076863")
        XCTAssertEqual(btc.rank, 1)
        XCTAssertEqual(btc.observedAt.description, "2021-08-12T19:06:04Z")
        // Zero market caps mean "unknown" at CoinPaprika: they become null, not 0.
        XCTAssertGreaterThan(records.filter { $0.marketCapUSD == nil }.count, 2000)
        XCTAssertTrue(records.contains { $0.priceUSD?.text.contains("e-") ?? false })
    }

    func testEveryRealGeckoRowNormalizes() throws {
        for file in ["coingecko/markets_page1_per250_2025-02-09.json", "coingecko/markets_page1_per250_2022-02-23.json"] {
            let rows = try elements(file)
            XCTAssertEqual(rows.count, 250)
            let records = try rows.map { try CoinGecko.record($0.value, now: now) }
            XCTAssertEqual(Set(records.map(\.sourceID)).count, 250)
        }
        let btc = try CoinGecko.record(try elements("coingecko/markets_page1_per250_2025-02-09.json")[0].value, now: now)
        XCTAssertEqual(btc.sourceID, "bitcoin")
        XCTAssertEqual(btc.priceUSD?.text, "96114.08481738689")
        XCTAssertEqual(btc.observedAt.description, "2025-02-09T17:44:04.143000Z")
    }

    func testBadRecordsAreQuarantinedWithTheirField() throws {
        let cases: [(String, String)] = [
            (#"{"symbol":"X","name":"X","last_updated":"2021-01-01T00:00:00Z","current_price":1}"#, "id"),
            (#"{"id":"x","symbol":"X","name":"X","last_updated":"2021-01-01T00:00:00Z","current_price":"abc"}"#, "current_price"),
            (#"{"id":"x","symbol":"X","name":"X","last_updated":"2021-01-01T00:00:00Z","current_price":1,"market_cap":-5}"#, "market_cap"),
            (#"{"id":"x","symbol":"X","name":"X","last_updated":"1970-01-01T00:00:00Z","current_price":1}"#, "last_updated"),
            (#"{"id":"x","symbol":"X","name":"X","last_updated":"2021-01-01T00:00:00Z","current_price":null}"#, "current_price"),
        ]
        for (text, field) in cases {
            XCTAssertThrowsError(try CoinGecko.record(try JSONParser.parse(Array(text.utf8)), now: now), text) {
                XCTAssertEqual(($0 as! QuarantineReason).field, field, text)
            }
        }
        XCTAssertThrowsError(try CoinPaprika.record(.array([]), now: now))
    }
}
