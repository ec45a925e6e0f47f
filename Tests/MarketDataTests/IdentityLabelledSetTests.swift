// The identity matcher against a hand-labelled set of CoinGecko ↔ CoinPaprika pairs from the samples.
import Foundation
@testable import MarketData
import XCTest

final class IdentityLabelledSetTests: XCTestCase {
    let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/samples").standardized
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../fixtures/identity_pairs.csv").standardized

    private struct Pair {
        let gecko: String
        let paprika: String
        let same: Bool
        let kind: String
    }

    private func pairs() throws -> [Pair] {
        try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && !$0.hasPrefix("coingecko_id,") }
            .map { line in
                let fields = line.split(separator: ",", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
                return Pair(gecko: fields[0], paprika: fields[1], same: fields[2] == "yes", kind: fields[3])
            }
    }

    private func records(_ path: String, _ parse: (JSONValue, Timestamp) throws(QuarantineReason) -> MarketRecord) throws -> [MarketRecord] {
        let rows = try JSONParser.parseArrayElements([UInt8](Data(contentsOf: samples.appendingPathComponent(path))))
        let now = Timestamp.parseFilter("2026-01-01")!
        return rows.compactMap { row in try? parse(row.value, now) }
    }

    /// Every CoinPaprika ticker becomes an asset of its own, as a run into an empty database makes
    /// them (two ids of one source never share one); each CoinGecko coin is then matched against
    /// them through the resolver's `AssetCatalog` (its ticker, tickers a leading letter longer
    /// or shorter, and assets holding its own id among their keys), from its 2022 record when it has
    /// one (closest to the 2021 CoinPaprika recording), else its 2025 one — its 2025 one for a
    /// ticker changed since — with both APIs' recorded coin lists as the directory.
    func testPrecisionAndRecallOnTheLabelledSet() throws {
        var directory = CoinDirectory()
        for (source, file) in [(Source.coinpaprika, "coinpaprika/coins_2021-08-12.json"), (.coingecko, "coingecko/coins_list_2022-02-23.json")] {
            for element in try JSONParser.parseArrayElements([UInt8](Data(contentsOf: samples.appendingPathComponent(file)))) {
                if case .string(let id)? = element.value["id"], case .string(let symbol)? = element.value["symbol"],
                   case .string(let name)? = element.value["name"], !id.isEmpty {
                    directory.add(source: source, id: id, symbol: symbol, name: name)
                }
            }
        }
        XCTAssertGreaterThan(directory.count, 20_000)
        let outcome = try evaluate(directory: directory)
        XCTAssertGreaterThanOrEqual(outcome.precision, 0.995, "merged wrongly: \(outcome.wrong)")
        XCTAssertGreaterThanOrEqual(outcome.recall, 0.98, "missed: \(outcome.misses)")
    }

    /// The same without the coin lists (their fetch failed, or `COIN_LISTS=off`): the trading
    /// dates and supplies keep later namesakes apart on their own.
    func testPrecisionHoldsWithoutTheCoinLists() throws {
        let outcome = try evaluate(directory: nil)
        XCTAssertGreaterThanOrEqual(outcome.precision, 0.995, "merged wrongly: \(outcome.wrong)")
        XCTAssertGreaterThanOrEqual(outcome.recall, 0.98, "missed: \(outcome.misses)")
    }

    private func evaluate(directory: CoinDirectory?) throws -> (precision: Double, recall: Double, wrong: [String], misses: [String]) {
        let paprika = try records("coinpaprika/tickers_quotes-USD_2021-08-12.json", CoinPaprika.record)
        var earlier: [String: MarketRecord] = [:], later: [String: MarketRecord] = [:]
        for record in try records("coingecko/markets_page1_per250_2022-02-23.json", CoinGecko.record) { earlier[record.sourceID] = record }
        for record in try records("coingecko/markets_page1_per250_2025-02-09.json", CoinGecko.record) { later[record.sourceID] = record }
        var catalog = AssetCatalog()
        for (index, coin) in paprika.enumerated() {
            catalog.add(AssetCandidate(assetID: Int64(index), source: .coinpaprika, sourceID: coin.sourceID, symbol: coin.symbol,
                                       name: coin.name, supply: coin.supply, history: coin.history))
        }
        func matched(_ coin: MarketRecord) -> String? {
            let match = Identity.match(source: .coingecko, sourceID: coin.sourceID, symbol: coin.symbol, name: coin.name,
                                       supply: coin.supply, history: coin.history,
                                       candidates: catalog.candidates(symbol: coin.symbol, sourceID: coin.sourceID),
                                       directory: directory)
            return match.assetID.map { paprika[Int($0)].sourceID }
        }
        let labelled = try pairs()
        XCTAssertGreaterThanOrEqual(labelled.count, 150)
        var truePositives = 0, falsePositives = 0, falseNegatives = 0
        var misses: [String] = [], wrong: [String] = []
        for pair in labelled {
            let coin = pair.kind == "ticker-change" ? later[pair.gecko] : earlier[pair.gecko] ?? later[pair.gecko]
            guard let coin else {
                XCTFail("\(pair.gecko) is not in the CoinGecko samples")
                continue
            }
            let predicted = matched(coin) == pair.paprika
            switch (pair.same, predicted) {
            case (true, true): truePositives += 1
            case (false, true): falsePositives += 1; wrong.append("\(pair.gecko) ~ \(pair.paprika) (\(pair.kind))")
            case (true, false): falseNegatives += 1; misses.append("\(pair.gecko) ~ \(pair.paprika) (\(pair.kind))")
            case (false, false): break
            }
        }
        let precision = Double(truePositives) / Double(max(1, truePositives + falsePositives))
        let recall = Double(truePositives) / Double(max(1, truePositives + falseNegatives))
        let kinds = Dictionary(grouping: labelled, by: { "\($0.same ? "same" : "apart"):\($0.kind)" }).mapValues(\.count)
        print("identity on \(labelled.count) labelled pairs \(kinds.sorted { $0.key < $1.key }), coin lists "
              + (directory == nil ? "off" : "on") + ": precision "
              + String(format: "%.2f%%", precision * 100) + ", recall " + String(format: "%.2f%%", recall * 100)
              + "; merged wrongly: \(wrong); missed: \(misses)")
        return (precision, recall, wrong, misses)
    }
}
