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

/// CoinPaprika `GET /tickers?quotes=USD`.
public enum CoinPaprika {
    /// One ticker as a record: `quotes.USD.price` (required, > 0), `market_cap` (0 means unknown),
    /// `volume_24h`, `rank`, observed at `last_updated`.
    public static func record(_ ticker: JSONValue, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        guard case .object = ticker else { throw QuarantineReason(field: nil, "expected an object, got \(ticker.typeName)") }
        let id = try Field.string(ticker, "id")
        let usd = ticker["quotes"]?["USD"]
        guard case .object? = usd else { throw QuarantineReason(field: "quotes.USD", "missing value") }
        guard let price = try Field.amount(usd, "price", label: "quotes.USD.price", zeroIsMissing: true) else {
            throw QuarantineReason(field: "quotes.USD.price", "missing value (0 or null)")
        }
        return MarketRecord(
            source: .coinpaprika, sourceID: id, symbol: try Field.string(ticker, "symbol").uppercased(),
            name: try Field.string(ticker, "name"), observedAt: try Field.timestamp(ticker, "last_updated", now: now),
            priceUSD: price,
            marketCapUSD: try Field.amount(usd, "market_cap", label: "quotes.USD.market_cap", zeroIsMissing: true),
            volume24hUSD: try Field.amount(usd, "volume_24h", label: "quotes.USD.volume_24h", zeroIsMissing: false),
            rank: try Field.rank(ticker, "rank"))
    }
}

/// CoinGecko `GET /coins/markets?vs_currency=usd`.
public enum CoinGecko {
    /// One market row as a record: `current_price` (required, > 0), `market_cap` (0 means
    /// unknown), `total_volume`, `market_cap_rank`, observed at `last_updated`.
    public static func record(_ row: JSONValue, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        guard case .object = row else { throw QuarantineReason(field: nil, "expected an object, got \(row.typeName)") }
        let id = try Field.string(row, "id")
        guard let price = try Field.amount(row, "current_price", label: "current_price", zeroIsMissing: true) else {
            throw QuarantineReason(field: "current_price", "missing value (0 or null)")
        }
        return MarketRecord(
            source: .coingecko, sourceID: id, symbol: try Field.string(row, "symbol").uppercased(),
            name: try Field.string(row, "name"), observedAt: try Field.timestamp(row, "last_updated", now: now),
            priceUSD: price,
            marketCapUSD: try Field.amount(row, "market_cap", label: "market_cap", zeroIsMissing: true),
            volume24hUSD: try Field.amount(row, "total_volume", label: "total_volume", zeroIsMissing: false),
            rank: try Field.rank(row, "market_cap_rank"))
    }
}
