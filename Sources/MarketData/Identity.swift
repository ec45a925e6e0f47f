// One canonical identity per coin: the matching rules, as pure functions over names, ids and symbols.

/// How a source's coin was tied to a canonical asset (stored in `asset_sources.match_method`).
public enum MatchMethod: String, Sendable, CaseIterable {
    /// Same ticker and the same display name as a coin already mapped to the asset.
    case symbolName = "symbol+name"
    /// Same ticker, and a name key (source id, CoinPaprika slug) of a coin mapped to the asset.
    case symbolID = "symbol+id"
    /// Same ticker, and the same name once generic words ("Network", "Token") are dropped.
    case symbolNameWords = "symbol+name-words"
    /// Same ticker, names differ (a rename at one source), and the supply figures agree.
    case symbolSupply = "symbol+supply"
    /// A ticker written differently (an extra leading letter) and the same display name.
    case tickerVariantName = "ticker-variant+name"
    /// Another ticker (changed at one source), the coin's own id among the asset's keys and the
    /// same name once generic words are dropped.
    case tickerChange = "ticker-change+id"
    /// Same ticker, one name is the ticker and begins the other, and the supply agrees (a rename:
    /// Wootrade, now WOO Network).
    case symbolNamePrefix = "symbol+name-prefix"
    /// No asset matched: a new one was created.
    case new
}

/// One piece of evidence for (positive weight) or against (negative) two coins being one.
public struct Evidence: Sendable, Equatable, Codable {
    /// `name`, `id`, `name-words`, `max-supply`, `total-supply`, `circulating-supply`, `ticker-variant`.
    public let kind: String
    /// What it added to the score.
    public let weight: Double
    /// For people: what was compared.
    public let detail: String
}

/// How a source's coin was tied to a canonical asset.
public struct IdentityMatch: Sendable, Equatable {
    /// The rule that decided.
    public let method: MatchMethod
    /// Confidence in [0, 1].
    public let confidence: Double
    /// The matched asset, or nil when a new asset must be created.
    public let assetID: Int64?
    /// The evidence that decided (for a new asset: the best candidate's, which fell short).
    public var evidence: [Evidence] = []
    /// The evidence's combined score.
    public var score: Double = 0
}

/// A canonical asset as the matcher sees it: its symbol and every name key of its mappings.
public struct AssetCandidate: Sendable {
    /// The canonical asset id.
    public let assetID: Int64
    /// Upper-cased ticker symbol.
    public let symbol: String
    /// Compacted names and ids of every source coin mapped to it (see `Identity.keys`).
    public var keys: Set<String>
    /// Compacted display names of its mapped coins.
    public var names: Set<String>
    /// Sources that already have a coin mapped to it.
    public var sources: Set<Source>
    /// Its mapped coins' supply figures, where known.
    public var supplies: [Supply]
    /// Its mapped coins' names without generic words (see `Identity.essentialName`).
    public var essentials: Set<String>
    /// Its mapped coins' trading dates, where known.
    public var histories: [History]

    /// Creates a candidate.
    public init(assetID: Int64, symbol: String, keys: Set<String>, names: Set<String>, sources: Set<Source> = [],
                supplies: [Supply] = [], essentials: Set<String> = [], histories: [History] = []) {
        self.assetID = assetID
        self.symbol = symbol
        self.keys = keys
        self.names = names
        self.sources = sources
        self.supplies = supplies
        self.essentials = essentials
        self.histories = histories
    }
}

extension AssetCandidate {
    /// The candidate one source coin makes of its asset: its keys, name, supply and dates.
    public init(assetID: Int64, source: Source, sourceID: String, symbol: String, name: String, supply: Supply?,
                history: History?) {
        self.init(assetID: assetID, symbol: symbol.uppercased(),
                  keys: Identity.keys(source: source, sourceID: sourceID, symbol: symbol, name: name),
                  names: [Identity.compact(name)], sources: [source], supplies: supply.map { [$0] } ?? [],
                  essentials: Set([Identity.essentialName(name)].filter { !$0.isEmpty }), histories: history.map { [$0] } ?? [])
    }
}

/// The known assets a new coin is compared with, indexed the ways `Identity.match` needs them: by
/// ticker, by ticker without its first letter (`MIOTA` under `IOTA`: ticker variants), and by the
/// name keys of their coins (a ticker changed at one source finds its asset by the coin's id).
public struct AssetCatalog: Sendable {
    /// Every asset, with the evidence of all its coins.
    public private(set) var assets: [Int64: AssetCandidate] = [:]
    private var bySymbol: [String: [Int64]] = [:]
    private var longer: [String: [Int64]] = [:]
    private var byKey: [String: [Int64]] = [:]

    /// An empty catalog.
    public init() {}

    /// Adds a coin's evidence (a candidate of one or more coins) to its asset; the asset's ticker
    /// is the first coin's.
    public mutating func add(_ coins: AssetCandidate) {
        let id = coins.assetID
        if assets[id] == nil {
            assets[id] = AssetCandidate(assetID: id, symbol: coins.symbol, keys: [], names: [])
            bySymbol[coins.symbol, default: []].append(id)
            if coins.symbol.count >= 4 { longer[String(coins.symbol.dropFirst()), default: []].append(id) }
        }
        for key in coins.keys.subtracting(assets[id]!.keys) { byKey[key, default: []].append(id) }
        assets[id]!.keys.formUnion(coins.keys)
        assets[id]!.names.formUnion(coins.names)
        assets[id]!.sources.formUnion(coins.sources)
        assets[id]!.supplies += coins.supplies
        assets[id]!.histories += coins.histories
        assets[id]!.essentials.formUnion(coins.essentials.subtracting([""]))
    }

    /// The assets a coin is compared with: its ticker's, those of its ticker with one leading
    /// letter more or less, and those holding its own id among their keys.
    public func candidates(symbol: String, sourceID: String) -> [AssetCandidate] {
        let symbol = symbol.uppercased()
        var ids = bySymbol[symbol] ?? []
        if symbol.count >= 4 { ids += bySymbol[String(symbol.dropFirst())] ?? [] }
        ids += longer[symbol] ?? []
        ids += (byKey[Identity.compact(sourceID)] ?? []).filter { !ids.contains($0) }
        return ids.compactMap { assets[$0] }
    }
}

/// The rules that decide whether two source coins are the same asset.
///
/// A symbol alone never merges two coins (247 CoinPaprika symbols belong to several coins).
/// A coin joins an asset only when the symbol agrees *and* a name key agrees: the display name
/// (`Binance Coin` ~ `binancecoin`), the source id (`bitcoin`) or CoinPaprika's id without its
/// symbol prefix (`btc-bitcoin` → `bitcoin`). Two ids of one source are two coins by that
/// source's own account, so a coin never joins an asset its source already maps another id to.
public enum Identity {
    /// A URL-style slug: lower-case ASCII letters and digits, runs of anything else as one `-`.
    public static func slug(_ text: String) -> String {
        var out = ""
        var pendingDash = false
        for scalar in text.lowercased().unicodeScalars {
            if (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") {
                if pendingDash && !out.isEmpty { out.append("-") }
                pendingDash = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingDash = true
            }
        }
        return out
    }

    /// Lower-case letters and digits only: `Binance Coin` and `binance-coin` both become `binancecoin`.
    public static func compact(_ text: String) -> String {
        String(String.UnicodeScalarView(text.lowercased().unicodeScalars.filter {
            ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9")
        }))
    }

    /// The name keys of one source coin.
    public static func keys(source: Source, sourceID: String, symbol: String, name: String) -> Set<String> {
        var keys: Set<String> = [compact(name), compact(sourceID)]
        if source == .coinpaprika, let dash = sourceID.firstIndex(of: "-"),
           compact(String(sourceID[..<dash])) == compact(symbol) {
            keys.insert(compact(String(sourceID[sourceID.index(after: dash)...])))
        }
        keys.remove("")
        return keys
    }

    /// The score a coin needs to join an asset.
    public static let threshold = 0.45

    /// Chooses the asset for a source coin among candidates, or says a new asset is needed.
    ///
    /// Evidence, each with its weight: the same display name (0.6), the coin's own id among the
    /// asset's keys (0.6), another name key — source id, CoinPaprika slug — in common (0.5), the
    /// same name once generic words are dropped (0.45), a name that is the ticker and begins the
    /// other's (0.35: `WOO Network` ~ `Wootrade`);
    /// maximum supply within 1% (+0.4, more than 10% apart −0.15: maximums get raised, redenominated,
    /// merged), another coin in the source's own coin list with the same ticker and the asset's
    /// name whose id fits the asset at least as well (−0.4 against a name match: CoinGecko's
    /// `beam-2` "Beam" is not CoinPaprika's `beam-beam` when CoinGecko also lists `beam`), total
    /// supply within 1% (+0.3) or 25% (+0.1; it moves with mints and burns, so a gap says little, but
    /// over 20 times apart, with circulating supplies over 3 times apart too, is another coin or a
    /// redenominated token: −0.2), circulating supply within 10% (+0.1: the sources were recorded on
    /// different dates); an all-time high and low weeks apart, over a year after the other coin's
    /// data begins (−0.3: a later coin of the name, `laterCoin`); a ticker written differently or
    /// changed (−0.1). A coin joins the best candidate scoring at least `threshold` when its ticker
    /// agrees and either a name agrees or the supply alone reaches the threshold (a project renamed
    /// at one source); a ticker written differently needs the same display name; another ticker
    /// altogether needs the coin's own id among the asset's keys and the same essential name (a
    /// ticker changed at one source: CoinGecko's `render-token`, RNDR then RENDER). A ticker alone
    /// never merges, and a coin never joins an asset its source already maps another id to.
    public static func match(source: Source, sourceID: String, symbol: String, name: String, supply: Supply? = nil,
                             history: History? = nil, candidates: [AssetCandidate], directory: CoinDirectory? = nil) -> IdentityMatch {
        let upper = symbol.uppercased()
        let mine = keys(source: source, sourceID: sourceID, symbol: symbol, name: name)
        let myName = compact(name)
        let myEssential = essentialName(name)
        var best: IdentityMatch?
        var nearest: IdentityMatch?
        for candidate in candidates where !candidate.sources.contains(source) {
            let variant = candidate.symbol != upper
            // Another ticker entirely: only the coin's own id kept among the asset's keys, with the
            // same essential name, says it is the asset's coin under a ticker changed at one source.
            let changed = variant && !isTickerVariant(upper, candidate.symbol)
            if changed && !(candidate.keys.contains(compact(sourceID)) && myEssential.count >= 3
                            && (candidate.essentials.contains(myEssential) || candidate.names.contains(myName))) { continue }
            var evidence: [Evidence] = []
            var method: MatchMethod?
            var confidence = 0.0
            if candidate.names.contains(myName) {
                evidence.append(Evidence(kind: "name", weight: 0.6, detail: "display name \(name)"))
                (method, confidence) = variant ? (.tickerVariantName, 0.8) : (.symbolName, 0.95)
            } else if !candidate.keys.isDisjoint(with: mine) {
                // The coin's own id among the asset's keys outweighs a display name: ids are kept
                // through renames (CoinGecko `fetch-ai` ~ CoinPaprika `fet-fetch-ai`).
                let byID = candidate.keys.contains(compact(sourceID))
                evidence.append(Evidence(kind: "id", weight: byID ? 0.6 : 0.5,
                                         detail: "name key \(candidate.keys.intersection(mine).sorted().joined(separator: ", "))"))
                (method, confidence) = (.symbolID, 0.85)
            } else if myEssential.count >= 3, candidate.essentials.contains(myEssential) || candidate.keys.contains(myEssential) {
                evidence.append(Evidence(kind: "name-words", weight: 0.45, detail: "name without generic words \(myEssential)"))
                (method, confidence) = (.symbolNameWords, 0.8)
            } else if !variant, let prefix = tickerPrefix(upper, myEssential, candidate.essentials) {
                // Weaker than a name: it takes the supply's agreement too to reach the threshold.
                evidence.append(Evidence(kind: "name-prefix", weight: 0.35, detail: "name \(prefix)"))
                (method, confidence) = (.symbolNamePrefix, 0.7)
            }
            let supplyEvidence = compareSupply(supply, candidate.supplies)
            evidence += supplyEvidence
            if let later = laterCoin(history, candidate.histories) {
                evidence.append(Evidence(kind: "history", weight: -0.3, detail: later))
            }
            if evidence.first.map({ $0.kind == "name" || $0.kind == "name-words" }) == true,
               let namesake = directory?.namesake(source: source, id: sourceID, ticker: upper, of: candidate) {
                evidence.append(Evidence(kind: "namesake", weight: -0.4,
                                         detail: "\(source.rawValue) lists \(namesake) with this ticker and the asset's name"))
            }
            if changed {
                evidence.append(Evidence(kind: "ticker-change", weight: -0.1, detail: "ticker \(upper), was \(candidate.symbol)"))
            } else if variant {
                evidence.append(Evidence(kind: "ticker-variant", weight: -0.1, detail: "ticker \(upper) ~ \(candidate.symbol)"))
            }
            let score = evidence.reduce(0) { $0 + $1.weight }
            if method == nil && !variant && supplyEvidence.reduce(0, { $0 + $1.weight }) >= threshold - 1e-9 {
                (method, confidence) = (.symbolSupply, 0.75)
            }
            if changed {
                if method != nil { (method, confidence) = (.tickerChange, 0.8) }
            } else if variant && method != .tickerVariantName {
                method = nil
            }
            guard let method, score >= threshold - 1e-9 else {
                let miss = IdentityMatch(method: .new, confidence: 1.0, assetID: nil, evidence: evidence, score: score)
                if nearest == nil || score > nearest!.score { nearest = miss }
                continue
            }
            let match = IdentityMatch(method: method, confidence: confidence, assetID: candidate.assetID, evidence: evidence, score: score)
            if best == nil || match.score > best!.score
                || (match.score == best!.score && match.assetID! < best!.assetID!) {
                best = match
            }
        }
        return best ?? nearest ?? IdentityMatch(method: .new, confidence: 1.0, assetID: nil)
    }

    /// Whether two tickers are one written differently: one is the other with a leading letter
    /// added (`MIOTA` ~ `IOTA`), at least three letters left.
    public static func isTickerVariant(_ a: String, _ b: String) -> Bool {
        let (short, long) = a.count < b.count ? (a, b) : (b, a)
        return short.count >= 3 && long.count == short.count + 1 && long.hasSuffix(short)
    }

    /// Supply evidence: the best agreement with any of the candidate's coins.
    static func compareSupply(_ mine: Supply?, _ theirs: [Supply]) -> [Evidence] {
        guard let mine else { return [] }
        var best: [Evidence] = []
        var bestScore = -Double.infinity
        func apart(_ a: Double, _ b: Double) -> Double { abs(a - b) / Swift.max(a, b) }
        for other in theirs {
            var found: [Evidence] = []
            if let a = mine.max, let b = other.max {
                let gap = apart(a, b)
                if gap <= 0.01 { found.append(Evidence(kind: "max-supply", weight: 0.4, detail: "max supply \(a) ~ \(b)")) }
                // Weak against: maximums do change (raised by governance, redenominated, merged).
                else if gap > 0.1 { found.append(Evidence(kind: "max-supply", weight: -0.15, detail: "max supply \(a) vs \(b)")) }
            }
            if let a = mine.total, let b = other.total {
                let gap = apart(a, b)
                // Total supply moves with mints and burns between the sources' recording dates:
                // agreement is evidence, disagreement is not.
                if gap <= 0.01 { found.append(Evidence(kind: "total-supply", weight: 0.3, detail: "total supply \(a) ~ \(b)")) }
                else if gap <= 0.25 { found.append(Evidence(kind: "total-supply", weight: 0.1, detail: "total supply \(a) near \(b)")) }
                // Mints and burns move a supply by percents, not by a factor of twenty: that is
                // another coin of the name (or a redenominated one, a new token too) — when the
                // circulating supplies, both known, are apart as well. A total alone is on each
                // source's own definition: CoinPaprika gives Filecoin's circulating supply as its
                // total (24x CoinGecko's), and Tether Gold's total 57x CoinGecko's with no
                // circulating supply at all.
                else if Swift.max(a, b) > 20 * Swift.min(a, b), let c = mine.circulating, let d = other.circulating,
                        Swift.max(c, d) > 3 * Swift.min(c, d) {
                    found.append(Evidence(kind: "total-supply", weight: -0.2,
                                          detail: "total supply \(a) vs \(b): over 20x apart, circulating \(c) vs \(d)"))
                }
            }
            if let a = mine.circulating, let b = other.circulating, apart(a, b) <= 0.1 {
                found.append(Evidence(kind: "circulating-supply", weight: 0.1, detail: "circulating supply \(a) ~ \(b)"))
            }
            let score = found.reduce(0) { $0 + $1.weight }
            if score > bestScore {
                bestScore = score
                best = found
            }
        }
        return best
    }

    /// A name that is the ticker itself and begins the other coin's name (`WOO Network` → `woo`,
    /// `Wootrade`): the shared part, or nil.
    static func tickerPrefix(_ ticker: String, _ mine: String, _ theirs: Set<String>) -> String? {
        let ticker = compact(ticker)
        guard ticker.count >= 3 else { return nil }
        for other in theirs where other != mine {
            let (short, long) = mine.count < other.count ? (mine, other) : (other, mine)
            if short == ticker && long.hasPrefix(short) { return "\(short) begins \(long)" }
        }
        return nil
    }

    /// A later coin of the name: one coin's all-time high and low fall within 60 days of each
    /// other, over a year after the other coin's data begins — its whole price history is that
    /// short, so it is not the coin traded since then (CoinGecko's Jupiter of 2024, high 2024-01-31
    /// and low 2024-02-21, against CoinPaprika's Jupiter with data since 2020-04-28). Returns the
    /// evidence's detail, or nil.
    static func laterCoin(_ mine: History?, _ theirs: [History]) -> String? {
        let day: Int64 = 86_400_000_000
        func later(_ a: History, _ b: History) -> String? {
            guard let extremes = a.extremes, let since = b.firstDataAt,
                  extremes.upperBound.microseconds - extremes.lowerBound.microseconds <= 60 * day,
                  extremes.lowerBound.microseconds - since.microseconds > 365 * day else { return nil }
            return "all-time high and low \(extremes.lowerBound)...\(extremes.upperBound), data on the other since \(since)"
        }
        guard let mine else { return nil }
        for other in theirs {
            if let found = later(mine, other) ?? later(other, mine) { return found }
        }
        return nil
    }

    /// Words sources add to a project's name ("… Network", "… Token"): not what tells two coins apart.
    static let genericWords: Set<String> = ["token", "network", "protocol", "project", "coin", "finance", "the"]

    /// A name's words, lower-cased, without the generic ones, run together: `Helium Network` and
    /// `Helium` both become `helium`. Empty when nothing but generic words is left.
    public static func essentialName(_ name: String) -> String {
        let words = slug(name).split(separator: "-").map(String.init)
        return words.filter { !genericWords.contains($0) }.joined()
    }

    /// For an operator: what speaks for and against two assets with the same ticker being one coin,
    /// from their mapped coins' names and ids.
    public static func nearMissEvidence(a: (names: [String], ids: [String]), b: (names: [String], ids: [String])) -> String {
        var found: [String] = []
        let aEssential = Set(a.names.map(essentialName)).subtracting([""])
        let bEssential = Set(b.names.map(essentialName)).subtracting([""])
        if !aEssential.isDisjoint(with: bEssential) {
            found.append("names equal without generic words (\(aEssential.intersection(bEssential).sorted().joined(separator: ", ")))")
        }
        let aKeys = Set(a.ids.map(compact) + a.names.map(compact))
        let bKeys = Set(b.ids.map(compact) + b.names.map(compact))
        // CoinPaprika's ids are `ticker-name`: the part after the dash may name the other coin.
        let slugs = (a.ids + b.ids).compactMap { id -> String? in
            guard let dash = id.firstIndex(of: "-") else { return nil }
            return compact(String(id[id.index(after: dash)...]))
        }
        if slugs.contains(where: { aKeys.contains($0) && bKeys.contains($0) }) {
            found.append("a CoinPaprika id slug names both")
        }
        if found.isEmpty {
            found.append("names differ (\(a.names.joined(separator: " / ")) vs \(b.names.joined(separator: " / "))): kept apart")
        }
        return found.joined(separator: "; ")
    }
}

/// Every coin each source lists (its own coin list), by ticker: who else answers to a name.
public struct CoinDirectory: Sendable {
    private var byTicker: [Source: [String: [(id: String, name: String)]]] = [:]

    /// An empty directory.
    public init() {}

    /// Adds one coin of a source's list.
    public mutating func add(source: Source, id: String, symbol: String, name: String) {
        byTicker[source, default: [:]][symbol.uppercased(), default: []].append((id, Identity.compact(name)))
    }

    /// Coins listed, per source.
    public var count: Int { byTicker.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } } }

    /// Another coin of `source` with `ticker` whose name is one of the asset's and whose id fits
    /// the asset at least as well as `id` does: the asset's name may be that coin's, not this one's.
    func namesake(source: Source, id: String, ticker: String, of candidate: AssetCandidate) -> String? {
        let mine = candidate.keys.contains(Identity.compact(id))
        return byTicker[source]?[ticker]?.first { other in
            other.id != id && candidate.names.contains(other.name) && (candidate.keys.contains(Identity.compact(other.id)) || !mine)
        }?.id
    }
}
