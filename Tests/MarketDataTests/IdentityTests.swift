// Identity matching: the same coin across sources is one asset; a shared symbol alone never merges.
import MarketData
import XCTest

final class IdentityTests: XCTestCase {
    func testSlugAndCompact() {
        XCTAssertEqual(Identity.slug("Binance Coin"), "binance-coin")
        XCTAssertEqual(Identity.slug("  XRP!! "), "xrp")
        XCTAssertEqual(Identity.compact("Binance Coin"), "binancecoin")
    }

    func testPaprikaIDLosesItsSymbolPrefix() {
        let keys = Identity.keys(source: .coinpaprika, sourceID: "btc-bitcoin", symbol: "BTC", name: "Bitcoin")
        XCTAssertTrue(keys.contains("bitcoin"))
        XCTAssertTrue(keys.contains("btcbitcoin"))
    }

    func testSameCoinFromThreeSourcesIsOneAsset() {
        let csv = AssetCandidate(assetID: 1, symbol: "BTC",
                                 keys: Identity.keys(source: .csv, sourceID: "bitcoin", symbol: "BTC", name: "Bitcoin"),
                                 names: ["bitcoin"])
        let paprika = Identity.match(source: .coinpaprika, sourceID: "btc-bitcoin", symbol: "btc", name: "Bitcoin", candidates: [csv])
        XCTAssertEqual(paprika.assetID, 1)
        XCTAssertEqual(paprika.method, .symbolName)
        let bnb = AssetCandidate(assetID: 2, symbol: "BNB",
                                 keys: Identity.keys(source: .csv, sourceID: "binance-coin", symbol: "BNB", name: "Binance Coin"),
                                 names: ["binancecoin"])
        // CoinGecko calls it "BNB" with id "binancecoin": the id matches, the name does not.
        let gecko = Identity.match(source: .coingecko, sourceID: "binancecoin", symbol: "bnb", name: "BNB", candidates: [bnb])
        XCTAssertEqual(gecko.assetID, 2)
        XCTAssertEqual(gecko.method, .symbolID)
        XCTAssertLessThan(gecko.confidence, paprika.confidence)
    }

    func testSharedSymbolAloneNeverMerges() {
        let one = AssetCandidate(assetID: 7, symbol: "ONE",
                                 keys: Identity.keys(source: .coingecko, sourceID: "harmony", symbol: "ONE", name: "Harmony"),
                                 names: ["harmony"])
        let match = Identity.match(source: .coinpaprika, sourceID: "one-menlo-one", symbol: "ONE", name: "Menlo One", candidates: [one])
        XCTAssertNil(match.assetID)
        XCTAssertEqual(match.method, .new)
    }

    func testSameNameDifferentSymbolIsNotMerged() {
        let a = AssetCandidate(assetID: 3, symbol: "ETH", keys: ["ethereum"], names: ["ethereum"])
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "ethereum", symbol: "ETHW", name: "Ethereum", candidates: [a]).assetID)
    }
}

final class IdentitySameSourceTests: XCTestCase {
    func testTwoIdsOfOneSourceAreNeverMerged() {
        let token = AssetCandidate(assetID: 9, symbol: "ABC", keys: ["token"], names: ["token"], sources: [.coinpaprika])
        XCTAssertNil(Identity.match(source: .coinpaprika, sourceID: "abc-token-2", symbol: "ABC", name: "Token", candidates: [token]).assetID)
        XCTAssertEqual(Identity.match(source: .coingecko, sourceID: "token", symbol: "abc", name: "Token", candidates: [token]).assetID, 9)
    }
}

/// The evidence rules one by one (the labelled set measures them together).
final class IdentityEvidenceTests: XCTestCase {
    private func asset(_ id: Int64, _ symbol: String, paprikaID: String, name: String, supply: Supply? = nil) -> AssetCandidate {
        AssetCandidate(assetID: id, symbol: symbol,
                       keys: Identity.keys(source: .coinpaprika, sourceID: paprikaID, symbol: symbol, name: name),
                       names: [Identity.compact(name)], sources: [.coinpaprika], supplies: supply.map { [$0] } ?? [],
                       essentials: [Identity.essentialName(name)])
    }

    func testGenericWordsAreDroppedFromNames() {
        XCTAssertEqual(Identity.essentialName("Conflux Network"), "conflux")
        XCTAssertEqual(Identity.essentialName("KuCoin Token"), "kucoin")
        XCTAssertEqual(Identity.essentialName("The Token"), "", "nothing but generic words is no name")
        let conflux = asset(1, "CFX", paprikaID: "cfx-conflux-network", name: "Conflux Network")
        let match = Identity.match(source: .coingecko, sourceID: "conflux-token", symbol: "cfx", name: "Conflux", candidates: [conflux])
        XCTAssertEqual(match.assetID, 1)
        XCTAssertEqual(match.method, .symbolNameWords)
        XCTAssertEqual(match.evidence.first?.kind, "name-words")
    }

    func testSupplyAloneMergesARenameOnlyWhenMaximumAndTotalAgree() {
        let agreeing = Supply(max: 1_000_000_000, total: 998_000_000, circulating: 400_000_000)
        let renamed = asset(2, "ABC", paprikaID: "abc-old-name", name: "Old Name", supply: agreeing)
        let both = Identity.match(source: .coingecko, sourceID: "new-name", symbol: "ABC", name: "New Name",
                                  supply: Supply(max: 1_000_000_000, total: 999_000_000, circulating: 900_000_000), candidates: [renamed])
        XCTAssertEqual(both.assetID, 2)
        XCTAssertEqual(both.method, .symbolSupply)
        // A maximum alone (0.4), or circulating supply alone, is not enough.
        let maxOnly = Identity.match(source: .coingecko, sourceID: "new-name", symbol: "ABC", name: "New Name",
                                     supply: Supply(max: 1_000_000_000, total: nil, circulating: nil), candidates: [renamed])
        XCTAssertNil(maxOnly.assetID)
        let circulating = Identity.match(source: .coingecko, sourceID: "other", symbol: "ABC", name: "Other",
                                         supply: Supply(max: nil, total: nil, circulating: 400_000_000), candidates: [renamed])
        XCTAssertNil(circulating.assetID, "a ticker and a similar circulating supply are not a coin")
    }

    func testATickerWrittenDifferentlyNeedsTheSameName() {
        XCTAssertTrue(Identity.isTickerVariant("MIOTA", "IOTA"))
        XCTAssertFalse(Identity.isTickerVariant("ETHW", "ETH"), "a letter added at the end is another ticker")
        XCTAssertFalse(Identity.isTickerVariant("XY", "Y"), "too short to tell")
        let iota = asset(3, "MIOTA", paprikaID: "miota-iota", name: "IOTA")
        let same = Identity.match(source: .coingecko, sourceID: "iota", symbol: "iota", name: "IOTA", candidates: [iota])
        XCTAssertEqual(same.assetID, 3)
        XCTAssertEqual(same.method, .tickerVariantName)
        let eth = asset(4, "ETH", paprikaID: "eth-ethereum", name: "Ethereum")
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "compound-ether", symbol: "ceth", name: "cETH", candidates: [eth]).assetID)
    }

    func testANamesakeInTheSourcesOwnListKeepsANameMatchApart() {
        let beam = asset(5, "BEAM", paprikaID: "beam-beam", name: "Beam")
        var directory = CoinDirectory()
        directory.add(source: .coingecko, id: "beam", symbol: "beam", name: "BEAM")
        directory.add(source: .coingecko, id: "beam-2", symbol: "beam", name: "Beam")
        let later = Identity.match(source: .coingecko, sourceID: "beam-2", symbol: "beam", name: "Beam", candidates: [beam], directory: directory)
        XCTAssertNil(later.assetID)
        XCTAssertTrue(later.evidence.contains { $0.kind == "namesake" && $0.detail.contains("beam") })
        // The coin whose id names the asset is not held back by the later one.
        let original = Identity.match(source: .coingecko, sourceID: "beam", symbol: "beam", name: "BEAM", candidates: [beam], directory: directory)
        XCTAssertEqual(original.assetID, 5)
        // Without the list, the name decides.
        XCTAssertEqual(Identity.match(source: .coingecko, sourceID: "beam-2", symbol: "beam", name: "Beam", candidates: [beam]).assetID, 5)
    }

    func testSupplyFiguresOfZeroAreUnknown() {
        let supply = Supply(max: 0, total: -1, circulating: 5)
        XCTAssertNil(supply.max)
        XCTAssertNil(supply.total)
        XCTAssertEqual(supply.circulating, 5)
        XCTAssertTrue(Supply(max: 0, total: nil, circulating: 0).isEmpty)
    }
}
