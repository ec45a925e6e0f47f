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
        // (Under its own id, kept among the asset's keys, it would be a ticker changed at one source.)
        let a = AssetCandidate(assetID: 3, symbol: "ETH", keys: ["ethereum"], names: ["ethereum"])
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "ethereum-pow", symbol: "ETHW", name: "Ethereum", candidates: [a]).assetID)
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
    private func asset(_ id: Int64, _ symbol: String, paprikaID: String, name: String, supply: Supply? = nil,
                       history: History? = nil) -> AssetCandidate {
        AssetCandidate(assetID: id, symbol: symbol,
                       keys: Identity.keys(source: .coinpaprika, sourceID: paprikaID, symbol: symbol, name: name),
                       names: [Identity.compact(name)], sources: [.coinpaprika], supplies: supply.map { [$0] } ?? [],
                       essentials: [Identity.essentialName(name)], histories: history.map { [$0] } ?? [])
    }

    private func day(_ text: String) -> Timestamp { Timestamp.parseFilter(text)! }

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

    /// The recorded Jupiters: CoinPaprika's (data since 2020) and CoinGecko's of 2024, supplies 7x
    /// apart — merged by their name when the coin lists were not there to tell them apart.
    func testALaterCoinOfTheNameStaysApartWithoutTheCoinLists() {
        let jupiter = asset(8, "JUP", paprikaID: "jup-jupiter", name: "Jupiter",
                            supply: Supply(max: nil, total: 1_000_000_000, circulating: 126_928_767),
                            history: History(firstDataAt: day("2020-04-28"), athAt: nil, atlAt: nil))
        let later = Identity.match(source: .coingecko, sourceID: "jupiter-exchange-solana", symbol: "jup", name: "Jupiter",
                                   supply: Supply(max: 10_000_000_000, total: 6_999_978_786, circulating: 2_637_438_888),
                                   history: History(firstDataAt: nil, athAt: day("2024-01-31T15:02:47.304Z"),
                                                    atlAt: day("2024-02-21T18:31:05.083Z")),
                                   candidates: [jupiter])
        XCTAssertNil(later.assetID)
        XCTAssertTrue(later.evidence.contains { $0.kind == "history" && $0.weight < 0 }, "\(later.evidence)")
        // A coin with years between its high and low is the old coin: the name decides.
        let same = Identity.match(source: .coingecko, sourceID: "jupiter", symbol: "jup", name: "Jupiter",
                                  history: History(firstDataAt: nil, athAt: day("2021-03-10"), atlAt: day("2023-10-09")),
                                  candidates: [jupiter])
        XCTAssertEqual(same.assetID, 8)
        // Weeks between high and low, but within a year of the old coin's first data: a young coin, not a later one.
        let young = Identity.match(source: .coingecko, sourceID: "jupiter", symbol: "jup", name: "Jupiter",
                                   history: History(firstDataAt: nil, athAt: day("2020-06-01"), atlAt: day("2020-06-20")),
                                   candidates: [jupiter])
        XCTAssertEqual(young.assetID, 8)
        // Either way round: CoinPaprika's coin matched against CoinGecko's asset.
        let gecko = AssetCandidate(assetID: 9, symbol: "JUP", keys: ["jupiterexchangesolana", "jupiter"], names: ["jupiter"],
                                   sources: [.coingecko], essentials: ["jupiter"],
                                   histories: [History(firstDataAt: nil, athAt: day("2024-01-31"), atlAt: day("2024-02-21"))!])
        XCTAssertNil(Identity.match(source: .coinpaprika, sourceID: "jup-jupiter", symbol: "JUP", name: "Jupiter",
                                    history: History(firstDataAt: day("2020-04-28"), athAt: nil, atlAt: nil),
                                    candidates: [gecko]).assetID)
    }

    /// Totals over 20x apart count against a name only when the circulating supplies are apart too:
    /// CoinPaprika gave Filecoin's circulating supply as its total; the two Safes differ in both.
    func testTotalsFarApartCountAgainstOnlyWithCirculatingSuppliesApart() {
        let filecoin = asset(10, "FIL", paprikaID: "fil-filecoin", name: "Filecoin",
                             supply: Supply(max: nil, total: 81_131_055, circulating: 81_131_055))
        let fil = Identity.match(source: .coingecko, sourceID: "filecoin", symbol: "fil", name: "Filecoin",
                                 supply: Supply(max: 1_970_815_422, total: 1_970_815_422, circulating: 167_323_853),
                                 candidates: [filecoin])
        XCTAssertEqual(fil.assetID, 10)
        XCTAssertFalse(fil.evidence.contains { $0.weight < 0 }, "\(fil.evidence)")
        let safe = asset(11, "SAFE", paprikaID: "safe-safe", name: "Safe",
                         supply: Supply(max: nil, total: 29_600_000, circulating: 20_835_499))
        let other = Identity.match(source: .coingecko, sourceID: "safe", symbol: "safe", name: "Safe",
                                   supply: Supply(max: 1_000_000_000, total: 1_000_000_000, circulating: 540_473_917),
                                   candidates: [safe])
        XCTAssertNil(other.assetID)
        XCTAssertTrue(other.evidence.contains { $0.kind == "total-supply" && $0.weight < 0 })
    }

    /// CoinGecko's `render-token` went from RNDR "Render Token" to RENDER "Render"; its id stayed.
    func testATickerChangedAtOneSourceFindsItsAssetByTheCoinsID() {
        let render = asset(12, "RNDR", paprikaID: "rndr-render-token", name: "Render Token")
        let changed = Identity.match(source: .coingecko, sourceID: "render-token", symbol: "render", name: "Render", candidates: [render])
        XCTAssertEqual(changed.assetID, 12)
        XCTAssertEqual(changed.method, .tickerChange)
        // Another ticker and the same name, but not the coin's id: another coin.
        let terra = asset(13, "LUNA", paprikaID: "luna-terra", name: "Terra")
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "terra-classic", symbol: "lunc", name: "Terra", candidates: [terra]).assetID)
        // The coin's id, but another name: not enough.
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "render-token", symbol: "rndx", name: "Rendex", candidates: [render]).assetID)
    }

    /// Wootrade became WOO Network: one name is the ticker and begins the other, and the totals agree.
    func testANameThatIsTheTickerAndBeginsTheOtherTakesTheSupplyToo() {
        let woo = asset(14, "WOO", paprikaID: "woo-wootrade", name: "Wootrade",
                        supply: Supply(max: nil, total: 2_873_566_213, circulating: 376_235_705))
        let renamed = Identity.match(source: .coingecko, sourceID: "woo-network", symbol: "woo", name: "WOO Network",
                                     supply: Supply(max: 3_000_000_000, total: 2_989_743_329, circulating: 904_673_834),
                                     candidates: [woo])
        XCTAssertEqual(renamed.assetID, 14)
        XCTAssertEqual(renamed.method, .symbolNamePrefix)
        XCTAssertNil(Identity.match(source: .coingecko, sourceID: "woo-network", symbol: "woo", name: "WOO Network", candidates: [woo]).assetID,
                     "the name alone is not enough")
    }
}
