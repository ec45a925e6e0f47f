// GET /data: parameters, keyset cursor, and the one SQL statement that builds the page's JSON.
import Foundation
import MarketData

/// A validated `/data` request.
public struct DataQuery: Sendable, Equatable {
    /// How the client pages.
    public enum Paging: Sendable, Equatable {
        /// `page` (1-based) and `page_size`.
        case page(number: Int, size: Int)
        /// `limit` and `offset`.
        case offset(limit: Int, offset: Int)
        /// After the row a cursor names, `size` rows.
        case cursor(Cursor, size: Int)
    }

    /// The position after one row in the total order (`observed_at` desc, `source`, `source_id`).
    public struct Cursor: Sendable, Equatable {
        /// The row's `observed_at`.
        public let observedAt: Timestamp
        /// The row's source.
        public let source: String
        /// The row's source id.
        public let sourceID: String

        /// Opaque text for clients: base64url of `v1|micros|source|source_id`.
        public var encoded: String {
            let raw = "v1|\(observedAt.microseconds)|\(source)|\(sourceID)"
            return Data(raw.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        /// Decodes a client's cursor; nil when it is not one of ours.
        public init?(encoded: String) {
            var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            guard !base64.isEmpty, base64.count <= 1024, base64.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") }) else { return nil }
            while base64.count % 4 != 0 { base64 += "=" }
            guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
            let parts = text.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "v1", let micros = Int64(parts[1]), Source(rawValue: String(parts[2])) != nil,
                  !parts[3].isEmpty, !parts[3].utf8.contains(0) else { return nil }
            self.init(observedAt: Timestamp(microseconds: micros), source: String(parts[2]), sourceID: String(parts[3]))
        }

        /// Creates a cursor after the given row.
        public init(observedAt: Timestamp, source: String, sourceID: String) {
            self.observedAt = observedAt
            self.source = source
            self.sourceID = sourceID
        }
    }

    /// Parameters `/data` accepts.
    public static let parameterNames: Set<String> = ["page", "page_size", "limit", "offset", "cursor", "source",
                                                     "symbol", "asset_id", "since", "until"]
    /// Largest page.
    public static let maxPageSize = 500
    /// Page size when none is given.
    public static let defaultPageSize = 50

    /// Paging mode.
    public var paging: Paging
    /// Only this source.
    public var source: Source?
    /// Only this symbol (compared case-insensitively).
    public var symbol: String?
    /// Only this canonical asset.
    public var assetID: Int64?
    /// `observed_at >= since`.
    public var since: Timestamp?
    /// `observed_at < until`.
    public var until: Timestamp?

    /// Validates the query string; every problem is a 400 naming its parameter.
    public init(query: String) throws(APIError) {
        let params = try QueryParameters(query, allowed: DataQuery.parameterNames)
        let pageSize = try params.integer("page_size", in: 1...DataQuery.maxPageSize)
        let page = try params.integer("page", in: 1...1_000_000)
        let limit = try params.integer("limit", in: 1...DataQuery.maxPageSize)
        let offset = try params.integer("offset", in: 0...100_000_000)
        let usesPage = page != nil || pageSize != nil
        let usesOffset = limit != nil || offset != nil
        if usesPage && usesOffset {
            let name = page != nil ? "page" : "page_size"
            throw APIError.badParameter(name, "cannot be combined with limit/offset; use page+page_size or limit+offset")
        }
        if let text = params["cursor"] {
            guard let cursor = Cursor(encoded: text) else {
                throw APIError.badParameter("cursor", "not a cursor returned by this API (use next_cursor from a previous page)")
            }
            if page != nil { throw APIError.badParameter("page", "cannot be combined with cursor") }
            if offset != nil { throw APIError.badParameter("offset", "cannot be combined with cursor") }
            paging = .cursor(cursor, size: pageSize ?? limit ?? DataQuery.defaultPageSize)
        } else if usesOffset {
            paging = .offset(limit: limit ?? DataQuery.defaultPageSize, offset: offset ?? 0)
        } else {
            paging = .page(number: page ?? 1, size: pageSize ?? DataQuery.defaultPageSize)
        }
        if let text = params["source"] {
            guard let source = Source(rawValue: text) else {
                throw APIError.badParameter("source", "must be one of \(Source.allNames), got \(QueryParameters.show(text))")
            }
            self.source = source
        }
        if let text = params["symbol"] {
            guard !text.isEmpty, text.count <= 32 else { throw APIError.badParameter("symbol", "must be 1 to 32 characters") }
            symbol = text
        }
        if params.has("asset_id") {
            assetID = Int64(try params.integer("asset_id", in: 1...Int.max)!)
        }
        since = try DataQuery.timestamp(params, "since")
        until = try DataQuery.timestamp(params, "until")
        if let since, let until, since > until {
            throw APIError.badParameter("since", "must not be after until (\(since) > \(until))")
        }
    }

    private static func timestamp(_ params: QueryParameters, _ name: String) throws(APIError) -> Timestamp? {
        guard let text = params[name] else { return nil }
        guard let value = Timestamp.parseFilter(text) else {
            throw APIError.badParameter(name, "must be an RFC 3339 timestamp (2024-07-06T00:00:00Z) or a date (2024-07-06), got \(QueryParameters.show(text))")
        }
        return value
    }

    /// Rows per page.
    public var pageSize: Int {
        switch paging {
        case .page(_, let size), .offset(let size, _), .cursor(_, let size): return size
        }
    }

    /// Rows skipped.
    public var offset: Int {
        switch paging {
        case .page(let number, let size): return (number - 1) * size
        case .offset(_, let offset): return offset
        case .cursor: return 0
        }
    }

    /// The statement and its parameters.
    ///
    /// One statement returns the data version, the total (the cached `knownTotal` when the version
    /// still equals `knownVersion`, else a fresh count), the page as a JSON array built by
    /// PostgreSQL, and the cursor of the page's last row when another row follows. Only the
    /// filters present appear in the SQL, so each combination gets a plan that uses its index.
    func statement(knownVersion: Int64, knownTotal: Int64) -> (name: String, sql: String, params: [String?]) {
        var params: [String?] = []
        func bind(_ value: String) -> String {
            params.append(value)
            return "$\(params.count)"
        }
        var filters: [String] = []
        var signature = ""
        if let source { filters.append("m.source = \(bind(source.rawValue))"); signature += "s" }
        if let symbol { filters.append("upper(m.symbol) = upper(\(bind(symbol)))"); signature += "y" }
        if let assetID { filters.append("m.asset_id = \(bind(String(assetID)))::bigint"); signature += "a" }
        if let since { filters.append("m.observed_at >= \(bind(since.description))::timestamptz"); signature += "f" }
        if let until { filters.append("m.observed_at < \(bind(until.description))::timestamptz"); signature += "u" }
        let countWhere = filters.isEmpty ? "" : "WHERE " + filters.joined(separator: " AND ")
        var pageFilters = filters
        if case .cursor(let cursor, _) = paging {
            let at = bind(cursor.observedAt.description)
            let src = bind(cursor.source)
            let sid = bind(cursor.sourceID)
            pageFilters.append("(m.observed_at < \(at)::timestamptz OR (m.observed_at = \(at)::timestamptz AND (m.source, m.source_id) > (\(src), \(sid))))")
            signature += "c"
        }
        let pageWhere = pageFilters.isEmpty ? "" : "WHERE " + pageFilters.joined(separator: " AND ")
        let limit = bind(String(pageSize))
        let offset = bind(String(self.offset))
        let version = bind(String(knownVersion))
        let total = bind(String(knownTotal))
        let sql = """
            WITH v AS (SELECT version FROM data_version),
            page AS (
              SELECT m.*, row_number() OVER (ORDER BY m.observed_at DESC, m.source, m.source_id) AS rn
              FROM (SELECT * FROM market_records m \(pageWhere)
                    ORDER BY m.observed_at DESC, m.source, m.source_id LIMIT \(limit)::int + 1 OFFSET \(offset)::bigint) m
            )
            SELECT v.version::text,
              (CASE WHEN v.version = \(version)::bigint THEN \(total)::bigint
                    ELSE (SELECT count(*) FROM market_records m \(countWhere)) END)::text,
              (SELECT '[' || coalesce(string_agg(r.j, ',' ORDER BY r.rn), '') || ']'
               FROM (SELECT p.rn, row_to_json((SELECT x FROM (SELECT p.asset_id, p.symbol, p.name, p.source, p.source_id,
                              p.price_usd, p.market_cap_usd, p.volume_24h_usd, p.rank,
                              rfc3339(p.observed_at) AS observed_at, rfc3339(p.ingested_at) AS ingested_at) x))::text AS j
                     FROM page p WHERE p.rn <= \(limit)::int) r),
              (SELECT (extract(epoch FROM p.observed_at) * 1000000)::bigint::text || '|' || p.source || '|' || p.source_id
               FROM page p WHERE p.rn = \(limit)::int AND EXISTS (SELECT 1 FROM page q WHERE q.rn > \(limit)::int))
            FROM v
            """
        return ("data_" + (signature.isEmpty ? "all" : signature), sql, params)
    }

    /// The filters, as the key of the per-responder total cache.
    var filterKey: String {
        "\(source?.rawValue ?? "")|\(symbol?.uppercased() ?? "")|\(assetID.map(String.init) ?? "")|\(since?.description ?? "")|\(until?.description ?? "")"
    }
}
