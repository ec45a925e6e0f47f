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
    /// them as the resolver does (candidates: its ticker, and tickers a leading letter longer or
    /// shorter), from its 2022 record when it has one (closest to the 2021 CoinPaprika recording),
    /// else its 2025 one, with both APIs' recorded coin lists as the directory.
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
        let paprika = try records("coinpaprika/tickers_quotes-USD_2021-08-12.json", CoinPaprika.record)
        var gecko: [String: MarketRecord] = [:]
        for file in ["coingecko/markets_page1_per250_2022-02-23.json", "coingecko/markets_page1_per250_2025-02-09.json"] {
            for record in try records(file, CoinGecko.record) where gecko[record.sourceID] == nil {
                gecko[record.sourceID] = record
            }
        }
        var candidates: [AssetCandidate] = []
        var bySymbol: [String: [Int]] = [:]
        for (index, coin) in paprika.enumerated() {
            candidates.append(AssetCandidate(
                assetID: Int64(index), symbol: coin.symbol.uppercased(),
                keys: Identity.keys(source: .coinpaprika, sourceID: coin.sourceID, symbol: coin.symbol, name: coin.name),
                names: [Identity.compact(coin.name)], sources: [.coinpaprika], supplies: coin.supply.map { [$0] } ?? [],
                essentials: Set([Identity.essentialName(coin.name)].filter { !$0.isEmpty })))
            bySymbol[coin.symbol.uppercased(), default: []].append(index)
        }
        func matched(_ id: String) -> String? {
            guard let coin = gecko[id] else { return nil }
            let symbol = coin.symbol.uppercased()
            var pool = bySymbol[symbol] ?? []
            if symbol.count >= 4 { pool += bySymbol[String(symbol.dropFirst())] ?? [] }
            pool += bySymbol.filter { $0.key.count >= 4 && String($0.key.dropFirst()) == symbol }.flatMap(\.value)
            let match = Identity.match(source: .coingecko, sourceID: id, symbol: coin.symbol, name: coin.name, supply: coin.supply,
                                       candidates: pool.map { candidates[$0] }, directory: directory)
            return match.assetID.map { paprika[Int($0)].sourceID }
        }
        let labelled = try pairs()
        XCTAssertGreaterThanOrEqual(labelled.count, 150)
        var truePositives = 0, falsePositives = 0, falseNegatives = 0
        var misses: [String] = [], wrong: [String] = []
        for pair in labelled {
            XCTAssertNotNil(gecko[pair.gecko], "\(pair.gecko) is not in the CoinGecko samples")
            let predicted = matched(pair.gecko) == pair.paprika
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
        print("identity on \(labelled.count) labelled pairs \(kinds.sorted { $0.key < $1.key }): precision "
              + String(format: "%.2f%%", precision * 100) + ", recall " + String(format: "%.2f%%", recall * 100)
              + "; merged wrongly: \(wrong); missed: \(misses)")
        XCTAssertGreaterThanOrEqual(precision, 0.995, "merged wrongly: \(wrong)")
        XCTAssertGreaterThanOrEqual(recall, 0.98, "missed: \(misses)")
    }
}
