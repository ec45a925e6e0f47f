// Normalizing CoinPaprika tickers and CoinGecko markets rows into MarketRecords.
import Support

/// Field readers shared by the API sources' normalizers.
enum Field {
    static func string(_ object: JSONValue, _ key: String) throws(QuarantineReason) -> String {
        switch object[key] {
        case .string(let text)? where !text.trimmingBlanks().isEmpty: return text
        case nil, .null?, .string?: throw QuarantineReason(field: key, "missing value")
        case let other?: throw QuarantineReason(field: key, "expected a string, got \(other.typeName)")
        }
    }

    /// An optional non-negative amount; `zeroIsMissing` maps 0 to nil (the APIs write 0 for unknown).
    static func amount(_ object: JSONValue?, _ key: String, label: String, zeroIsMissing: Bool) throws(QuarantineReason) -> DecimalText? {
        switch object?[key] {
        case nil, .null?: return nil
        case .number(let text)?:
            let value = try Validate.amount(text, field: label)
            return zeroIsMissing && value.isZero ? nil : value
        case let other?: throw QuarantineReason(field: label, "expected a number, got \(other.typeName)")
        }
    }

    static func rank(_ object: JSONValue, _ key: String) throws(QuarantineReason) -> Int? {
        switch object[key] {
        case nil, .null?: return nil
        case .number(let text)?:
            guard let value = Int(text), value >= 0 else { throw QuarantineReason(field: key, "expected a whole number ≥ 0, got \(text)") }
            return value == 0 ? nil : value
        case let other?: throw QuarantineReason(field: key, "expected a number, got \(other.typeName)")
        }
    }

    static func timestamp(_ object: JSONValue, _ key: String, now: Timestamp) throws(QuarantineReason) -> Timestamp {
        let text = try string(object, key)
        guard let value = Timestamp.parseFilter(text) else {
            throw QuarantineReason(field: key, "expected an RFC 3339 timestamp, got \(String(text.prefix(40)).debugDescription)")
        }
        try Validate.observedAt(value, now: now, field: key)
        return value
    }
}

/// Where one API source keeps each field of a market record in its JSON rows.
struct APIRecordLayout: Sendable {
    let source: Source
    /// Path from the row to the object holding the amounts (empty: the row itself).
    let quote: [String]
    let price: String
    let marketCap: String
    let volume: String
    let rank: String

    /// The dotted name of an amount field, as drift findings and quarantine reasons call it.
    func label(_ field: String) -> String { (quote + [field]).joined(separator: ".") }

    /// One row as a record: the price is required and > 0; a market cap of 0 means unknown; the
    /// record is observed at `last_updated`.
    func record(_ row: JSONValue, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        guard case .object = row else { throw QuarantineReason(field: nil, "expected an object, got \(row.typeName)") }
        let id = try Field.string(row, "id")
        var amounts: JSONValue? = row
        for key in quote { amounts = amounts?[key] }
        guard case .object? = amounts else { throw QuarantineReason(field: quote.joined(separator: "."), "missing value") }
        guard let priceUSD = try Field.amount(amounts, price, label: label(price), zeroIsMissing: true) else {
            throw QuarantineReason(field: label(price), "missing value (0 or null)")
        }
        return MarketRecord(
            source: source, sourceID: id, symbol: try Field.string(row, "symbol").uppercased(),
            name: try Field.string(row, "name"), observedAt: try Field.timestamp(row, "last_updated", now: now),
            priceUSD: priceUSD,
            marketCapUSD: try Field.amount(amounts, marketCap, label: label(marketCap), zeroIsMissing: true),
            volume24hUSD: try Field.amount(amounts, volume, label: label(volume), zeroIsMissing: false),
            rank: try Field.rank(row, rank), supply: APIRecordLayout.supply(row), history: APIRecordLayout.history(row))
    }

    /// `max_supply`, `total_supply` and `circulating_supply` at the row's top level (both APIs put
    /// them there); anything that is not a number is unknown, never a reason to quarantine.
    static func supply(_ row: JSONValue) -> Supply? {
        func number(_ key: String) -> Double? {
            if case .number(let text)? = row[key] { return Double(text) }
            return nil
        }
        let supply = Supply(max: number("max_supply"), total: number("total_supply"), circulating: number("circulating_supply"))
        return supply.isEmpty ? nil : supply
    }

    /// `first_data_at` (CoinPaprika), `ath_date` and `atl_date` (CoinGecko) at the row's top level;
    /// anything that is not an RFC 3339 time is unknown, never a reason to quarantine.
    static func history(_ row: JSONValue) -> History? {
        func time(_ key: String) -> Timestamp? {
            if case .string(let text)? = row[key] { return Timestamp.parseFilter(text) }
            return nil
        }
        return History(firstDataAt: time("first_data_at"), athAt: time("ath_date"), atlAt: time("atl_date"))
    }
}

/// CoinPaprika `GET /tickers?quotes=USD`.
public enum CoinPaprika {
    static let layout = APIRecordLayout(source: .coinpaprika, quote: ["quotes", "USD"], price: "price",
                                        marketCap: "market_cap", volume: "volume_24h", rank: "rank")

    /// One ticker as a record: `quotes.USD.price` (required, > 0), `market_cap` (0 means unknown),
    /// `volume_24h`, `rank`, observed at `last_updated`.
    public static func record(_ ticker: JSONValue, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        try layout.record(ticker, now: now)
    }
}

/// CoinGecko `GET /coins/markets?vs_currency=usd`.
public enum CoinGecko {
    static let layout = APIRecordLayout(source: .coingecko, quote: [], price: "current_price",
                                        marketCap: "market_cap", volume: "total_volume", rank: "market_cap_rank")

    /// One market row as a record: `current_price` (required, > 0), `market_cap` (0 means
    /// unknown), `total_volume`, `market_cap_rank`, observed at `last_updated`.
    public static func record(_ row: JSONValue, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        try layout.record(row, now: now)
    }
}
