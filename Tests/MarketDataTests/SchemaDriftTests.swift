// Schema drift on the real samples, unchanged and with renamed and retyped fields.
import Foundation
import MarketData
import XCTest

final class SchemaDriftTests: XCTestCase {
    let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/samples").standardized

    private func records(_ path: String, rename: [String: String] = [:], nested: String? = nil) throws -> [JSONValue] {
        var text = try String(contentsOf: samples.appendingPathComponent(path), encoding: .utf8)
        for (old, new) in rename { text = text.replacingOccurrences(of: "\"\(old)\":", with: "\"\(new)\":") }
        return try JSONParser.parseArrayElements(Array(text.utf8)).map(\.value)
    }

    func testRealSamplesMatchTheirSchemas() throws {
        XCTAssertEqual(SchemaDrift.detect(try records("coinpaprika/tickers_quotes-USD_2021-08-12.json"), expected: .coinpaprika), [])
        XCTAssertEqual(SchemaDrift.detect(try records("coingecko/markets_page1_per250_2025-02-09.json"), expected: .coingecko), [])
        XCTAssertEqual(SchemaDrift.detect(try records("coingecko/markets_page1_per250_2022-02-23.json"), expected: .coingecko), [])
    }

    func testNameSimilarity() {
        XCTAssertGreaterThan(SchemaDrift.nameSimilarity("market_cap", "marketCap"), 0.95)
        XCTAssertGreaterThan(SchemaDrift.nameSimilarity("market_cap", "market_cap_usd"), 0.8)
        XCTAssertLessThan(SchemaDrift.nameSimilarity("market_cap", "volume"), 0.3)
        XCTAssertGreaterThan(SchemaDrift.nameSimilarity("quotes.USD.price", "quotes.USD.Price"), 0.95)
    }

    func testRenamedFieldsOfThePaprikaSample() throws {
        let drifted = try records("coinpaprika/tickers_quotes-USD_2021-08-12.json",
                                  rename: ["market_cap": "marketCap", "volume_24h": "volume_24h_usd", "last_updated": "ts"])
        let findings = SchemaDrift.detect(drifted, expected: .coinpaprika)
        let renamed = Dictionary(uniqueKeysWithValues: findings.filter { $0.kind == .renamed }.map { ($0.field, $0) })
        XCTAssertEqual(renamed["quotes.USD.market_cap"]?.matched, "quotes.USD.marketCap")
        XCTAssertGreaterThanOrEqual(renamed["quotes.USD.market_cap"]?.confidence ?? 0, 0.95)
        XCTAssertEqual(renamed["quotes.USD.volume_24h"]?.matched, "quotes.USD.volume_24h_usd")
        XCTAssertGreaterThanOrEqual(renamed["quotes.USD.volume_24h"]?.confidence ?? 0, 0.8)
        // `ts` is too unlike `last_updated` to be trusted: reported, below the threshold.
        let lastUpdated = findings.first { $0.field == "last_updated" }
        XCTAssertTrue(lastUpdated?.kind == .removed || (lastUpdated?.confidence ?? 1) < SchemaDrift.defaultThreshold, "\(String(describing: lastUpdated))")
        for finding in findings { print("coinpaprika drift: \(finding)") }
        // Applying the confident renames lets the record normalize again.
        let fixed = SchemaDrift.applying([("quotes.USD.market_cap", "quotes.USD.marketCap")], to: drifted[0])
        XCTAssertEqual(fixed["quotes"]?["USD"]?["market_cap"], drifted[0]["quotes"]?["USD"]?["marketCap"])
    }

    func testRenamedAndRetypedFieldsOfTheGeckoSample() throws {
        var drifted = try records("coingecko/markets_page1_per250_2025-02-09.json",
                                  rename: ["current_price": "currentPrice", "total_volume": "volume", "market_cap_rank": "rank"])
        // Retype every market_cap to a string.
        drifted = drifted.map { record in
            guard case .object(var members) = record, case .number(let text)? = members["market_cap"] else { return record }
            members["market_cap"] = .string(text)
            return .object(members)
        }
        let findings = SchemaDrift.detect(drifted, expected: .coingecko)
        for finding in findings { print("coingecko drift: \(finding)") }
        let byField = Dictionary(findings.map { ($0.field, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byField["current_price"]?.kind, .renamed)
        XCTAssertGreaterThanOrEqual(byField["current_price"]?.confidence ?? 0, 0.95)
        XCTAssertEqual(byField["market_cap"]?.kind, .typeChanged)
        XCTAssertEqual(byField["market_cap"]?.matched, "string")
        // `total_volume` → `volume` is a plausible but weaker rename.
        XCTAssertEqual(byField["total_volume"]?.kind, .renamed)
        XCTAssertLessThan(byField["total_volume"]?.confidence ?? 1, 0.95)
    }
}
