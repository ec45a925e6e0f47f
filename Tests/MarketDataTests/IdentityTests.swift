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
