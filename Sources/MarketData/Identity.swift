// One canonical identity per coin: the matching rules, as pure functions over names, ids and symbols.

/// How a source's coin was tied to a canonical asset (stored in `asset_sources.match_method`).
public enum MatchMethod: String, Sendable, CaseIterable {
    /// Same ticker and the same display name as a coin already mapped to the asset.
    case symbolName = "symbol+name"
    /// Same ticker, and a name key (source id, CoinPaprika slug) of a coin mapped to the asset.
    case symbolID = "symbol+id"
    /// No asset matched: a new one was created.
    case new
}

/// How a source's coin was tied to a canonical asset.
public struct IdentityMatch: Sendable, Equatable {
    /// The rule that decided.
    public let method: MatchMethod
    /// Confidence in [0, 1].
    public let confidence: Double
    /// The matched asset, or nil when a new asset must be created.
    public let assetID: Int64?
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

    /// Creates a candidate.
    public init(assetID: Int64, symbol: String, keys: Set<String>, names: Set<String>, sources: Set<Source> = []) {
        self.assetID = assetID
        self.symbol = symbol
        self.keys = keys
        self.names = names
        self.sources = sources
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

    /// Chooses the asset for a source coin among candidates, or says a new asset is needed.
    public static func match(source: Source, sourceID: String, symbol: String, name: String,
                             candidates: [AssetCandidate]) -> IdentityMatch {
        let upper = symbol.uppercased()
        let mine = keys(source: source, sourceID: sourceID, symbol: symbol, name: name)
        let myName = compact(name)
        var best: IdentityMatch?
        for candidate in candidates where candidate.symbol == upper && !candidate.sources.contains(source)
            && !candidate.keys.isDisjoint(with: mine) {
            let match = candidate.names.contains(myName)
                ? IdentityMatch(method: .symbolName, confidence: 0.95, assetID: candidate.assetID)
                : IdentityMatch(method: .symbolID, confidence: 0.85, assetID: candidate.assetID)
            if best == nil || match.confidence > best!.confidence
                || (match.confidence == best!.confidence && match.assetID! < best!.assetID!) {
                best = match
            }
        }
        return best ?? IdentityMatch(method: .new, confidence: 1.0, assetID: nil)
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
