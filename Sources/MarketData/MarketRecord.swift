// The unified market record every source is normalized into, and the quarantine verdict.

/// One observation of one coin from one source: the row of the unified `market_records` table.
public struct MarketRecord: Sendable, Hashable {
    /// Where it came from.
    public var source: Source
    /// The coin's id at that source (CoinPaprika `btc-bitcoin`, CoinGecko `bitcoin`, CSV `bitcoin`).
    public var sourceID: String
    /// Ticker symbol, upper-cased.
    public var symbol: String
    /// Display name.
    public var name: String
    /// When the source observed these values.
    public var observedAt: Timestamp
    /// Price in USD.
    public var priceUSD: DecimalText?
    /// Market capitalisation in USD.
    public var marketCapUSD: DecimalText?
    /// Traded volume over 24 hours in USD.
    public var volume24hUSD: DecimalText?
    /// Rank by market capitalisation, when the source gives one.
    public var rank: Int?
    /// The coin's supply figures, when the source gives them (identity evidence, not stored per row).
    public var supply: Supply?
    /// When the source says the coin traded, when it gives dates (identity evidence, not stored per row).
    public var history: History?

    /// Creates a record.
    public init(source: Source, sourceID: String, symbol: String, name: String, observedAt: Timestamp,
                priceUSD: DecimalText?, marketCapUSD: DecimalText?, volume24hUSD: DecimalText?, rank: Int?,
                supply: Supply? = nil, history: History? = nil) {
        self.source = source
        self.sourceID = sourceID
        self.symbol = symbol
        self.name = name
        self.observedAt = observedAt
        self.priceUSD = priceUSD
        self.marketCapUSD = marketCapUSD
        self.volume24hUSD = volume24hUSD
        self.rank = rank
        self.supply = supply
        self.history = history
    }
}

/// A coin's supply as a source reports it; 0, negative or absent figures are unknown (CoinPaprika
/// reports `max_supply` 0 for 73% of its tickers).
public struct Supply: Sendable, Hashable, Codable {
    /// The most that can ever exist.
    public let max: Double?
    /// What exists now.
    public let total: Double?
    /// What circulates (moves between observation dates: weak evidence).
    public let circulating: Double?

    /// Creates supply figures; unknown ones become nil.
    public init(max: Double?, total: Double?, circulating: Double?) {
        func known(_ value: Double?) -> Double? { value.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        self.max = known(max)
        self.total = known(total)
        self.circulating = known(circulating)
    }

    /// Whether nothing is known.
    public var isEmpty: Bool { max == nil && total == nil && circulating == nil }
}

/// The dates a source gives for a coin's trading: CoinPaprika's `first_data_at` (where its data on
/// the coin begins), CoinGecko's `ath_date` and `atl_date` (its all-time high and low).
public struct History: Sendable, Hashable {
    /// Where the source's data on the coin begins.
    public let firstDataAt: Timestamp?
    /// When its all-time high was.
    public let athAt: Timestamp?
    /// When its all-time low was.
    public let atlAt: Timestamp?

    /// Creates the dates; nil when none is known.
    public init?(firstDataAt: Timestamp?, athAt: Timestamp?, atlAt: Timestamp?) {
        guard firstDataAt != nil || athAt != nil || atlAt != nil else { return nil }
        self.firstDataAt = firstDataAt
        self.athAt = athAt
        self.atlAt = atlAt
    }

    /// The span from the earlier of the all-time high and low to the later, when both are known.
    public var extremes: ClosedRange<Timestamp>? {
        guard let athAt, let atlAt else { return nil }
        return min(athAt, atlAt)...max(athAt, atlAt)
    }
}

/// Why a source record was not accepted; stored with the raw record in the quarantine table.
public struct QuarantineReason: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field at fault, or nil for the record as a whole.
    public let field: String?
    /// What is wrong, in words an operator can act on.
    public let message: String

    /// Creates a reason.
    public init(field: String?, _ message: String) {
        self.field = field
        self.message = message
    }

    /// `field: message`, or the message alone.
    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// Field checks shared by every source's normalizer.
public enum Validate {
    /// Earliest plausible observation (before any crypto market existed is a data error).
    public static let earliest = Timestamp(year: 2009, month: 1, day: 1)!

    /// A required, non-negative number; `allowZero` false also rejects zero.
    public static func amount(_ raw: some StringProtocol, field: String, allowZero: Bool = true) throws(QuarantineReason) -> DecimalText {
        guard !raw.trimmingBlanks().isEmpty else { throw QuarantineReason(field: field, "missing value") }
        guard let value = DecimalText(raw) else {
            throw QuarantineReason(field: field, "not a number: \(String(raw.prefix(40)).debugDescription)")
        }
        guard !value.isNegative else { throw QuarantineReason(field: field, "negative value \(value.text)") }
        guard allowZero || !value.isZero else { throw QuarantineReason(field: field, "must be greater than zero") }
        return value
    }

    /// An observation time between 2009 and one day after `now`.
    public static func observedAt(_ value: Timestamp, now: Timestamp, field: String) throws(QuarantineReason) {
        let dayAhead = Timestamp(microseconds: now.microseconds + 86_400_000_000)
        guard value >= earliest, value <= dayAhead else {
            throw QuarantineReason(field: field, "implausible timestamp \(value)")
        }
    }
}
