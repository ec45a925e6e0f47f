// `kasparro-etl raw`: the exact bytes a stored record came from.
import MarketData
import Store

/// Finds the raw payload behind a record.
public struct RawLookup {
    private let connection: Connection

    /// Uses any connection that can read the raw tables.
    public init(connection: Connection) { self.connection = connection }

    /// What was asked for was not found.
    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }

    /// The raw JSON of an API record, byte for byte as received (as the stored jsonb's text for
    /// records stored before migration 5): the page of the run that last wrote the record, or
    /// of the newest earlier run when that run's page was identical and so not stored again.
    /// `observedAt` picks one observation; by default the newest.
    public func apiRecord(source: Source, id: String, observedAt: Timestamp?) throws -> [UInt8] {
        precondition(source != .csv)
        let record = try connection.query("""
            SELECT run_id FROM market_records
            WHERE asset_id = (SELECT asset_id FROM asset_sources WHERE source = $1 AND source_id = $2)
              AND source = $1 AND source_id = $2 AND ($3::timestamptz IS NULL OR observed_at = $3::timestamptz)
            ORDER BY observed_at DESC LIMIT 1
            """, [source.rawValue, id, observedAt?.description]).rows.first
        // A record never normalized (quarantined) has no row: its newest raw payload still answers.
        let runID: Int64? = try record?.get("run_id")
        if record == nil, observedAt != nil {
            throw NotFound(description: "no \(source.rawValue) record \(id.debugDescription) observed at \(observedAt!)")
        }
        let bound = runID.map(String.init) ?? String(Int64.max)
        if let row = try connection.query("""
            WITH hit AS MATERIALIZED (
              SELECT p.fetched_at, p.run_id, p.page, r.start, r.length
              FROM raw_api_pages p, unnest(p.ids, p.starts, p.lengths) AS r(id, start, length)
              WHERE p.source = $1 AND p.run_id <= $3::bigint AND r.id = $2
              ORDER BY p.run_id DESC, p.page LIMIT 1)
            SELECT encode(substring(kasparro_page_bytes(p.body, p.skeleton, p.numbers) FROM hit.start + 1 FOR hit.length), 'hex') AS raw
            FROM hit JOIN raw_api_pages p
              ON p.source = $1 AND p.fetched_at = hit.fetched_at AND p.run_id = hit.run_id AND p.page = hit.page
            """, [source.rawValue, id, bound]).rows.first {
            return try Self.bytes(hex: try row.get("raw"))
        }
        let legacy = source == .coingecko ? "raw_coingecko_v4" : "raw_coinpaprika_v4"
        if let row = try connection.query("""
            SELECT encode(convert_to(payload::text, 'UTF8'), 'hex') AS raw FROM \(legacy)
            WHERE source_id = $1 AND run_id <= $2::bigint ORDER BY run_id DESC, fetched_at DESC LIMIT 1
            """, [id, bound]).rows.first {
            return try Self.bytes(hex: try row.get("raw"))
        }
        throw NotFound(description: "no raw \(source.rawValue) payload holds id \(id.debugDescription)")
    }

    /// One line of a CSV stream as read (without its line terminator).
    public func csvLine(stream: String, line: Int64) throws -> [UInt8] {
        if let row = try connection.query("""
            SELECT split_part(body, E'\\n', ($2::bigint - first_line + 1)::int) AS line FROM raw_csv_chunks
            WHERE stream = $1 AND first_line <= $2::bigint AND first_line + line_count > $2::bigint
            ORDER BY first_line DESC LIMIT 1
            """, [stream, String(line)]).rows.first {
            return Array((try row.get("line", as: String.self)).utf8)
        }
        if let row = try connection.query("SELECT line FROM raw_csv_v4 WHERE stream = $1 AND line_no = $2::bigint",
                                          [stream, String(line)]).rows.first {
            return Array((try row.get("line", as: String.self)).utf8)
        }
        throw NotFound(description: "no raw line \(line) of CSV stream \(stream.debugDescription)")
    }

    private static func bytes(hex: String) throws -> [UInt8] {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        let digits = Array(hex.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index + 1 < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else {
                throw DatabaseError(.result, detail: "raw payload is not hex")
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
