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

        /// Opaque text for clients: base64url of `v1|micros|source|source_id`, without padding.
        public var encoded: String {
            // Foundation's base64, its alphabet mapped to base64url on the bytes (String's
            // replacingOccurrences goes through NSString: most of a decode's time, profiled).
            let base64 = Data("v1|\(observedAt.microseconds)|\(source)|\(sourceID)".utf8).base64EncodedData()
            return String(decoding: base64.compactMap { byte -> UInt8? in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            }, as: UTF8.self)
        }

        /// Decodes a client's cursor; nil unless it is exactly the text the API wrote.
        public init?(encoded: String) {
            var base64: [UInt8] = []
            base64.reserveCapacity(encoded.utf8.count + 3)
            for byte in encoded.utf8 {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    base64.append(byte)
                case UInt8(ascii: "-"): base64.append(UInt8(ascii: "+"))
                case UInt8(ascii: "_"): base64.append(UInt8(ascii: "/"))
                default: return nil
                }
            }
            guard !base64.isEmpty, base64.count <= 1024 else { return nil }
            while base64.count % 4 != 0 { base64.append(UInt8(ascii: "=")) }
            guard let data = Data(base64Encoded: Data(base64)), String(validating: data, as: UTF8.self) != nil else { return nil }
            // Split on the bytes: as Characters, a `|` followed by a combining mark is one grapheme.
            let parts = Array(data).split(separator: UInt8(ascii: "|"), maxSplits: 3, omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard parts.count == 4, parts[0] == "v1", let micros = Int64(parts[1]), Source(rawValue: parts[2]) != nil,
                  !parts[3].isEmpty, !parts[3].utf8.contains(0) else { return nil }
            self.init(observedAt: Timestamp(microseconds: micros), source: parts[2], sourceID: parts[3])
            // Only the API's own text: base64 has other spellings of the same bytes (unused low bits).
            guard self.encoded == encoded else { return nil }
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
        source = try params.choice("source", Source.self)
        if let text = params["symbol"] {
            guard !text.isEmpty, text.count <= 32 else { throw APIError.badParameter("symbol", "must be 1 to 32 characters") }
            symbol = text
        }
        if params.has("asset_id") {
            assetID = Int64(try params.integer("asset_id", in: 1...Int.max)!)
        }
        since = try DataQuery.timestamp(params, "since")
        until = try DataQuery.timestamp(params, "until")
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
    /// One statement returns, on every row, the data version and the total (the cached
    /// `knownTotal` while the version still equals `knownVersion`, else summed from the rollups,
    /// see `TotalPlan`), then the
    /// page's rows plus one (to know whether a next page exists); an empty page is one row of
    /// NULLs. Only the filters present appear in the SQL, so each combination gets a plan that uses
    /// its index. Rows come back as plain text and are rendered to JSON by `DataPage`: measured
    /// with pgbench, building the JSON inside PostgreSQL (`json_agg`) halved the statement's
    /// throughput, and PostgreSQL is the part the whole pool shares.
    /// The connection prepares each distinct SQL text once, so every combination keeps its plan.
    func statement(knownVersion: Int64, knownTotal: Int64) -> (sql: String, params: [String?], prepared: Bool) {
        var params: [String?] = []
        func bind(_ value: String) -> String {
            params.append(value)
            return "$\(params.count)"
        }
        var filters: [String] = []
        var rollupFilters: [String] = []
        if let source {
            // Written in (one of three validated names), not bound: a generic plan does not know a
            // bound source, takes it for a third of the rows and walks the key index for it, which
            // reads every row when that source has none (a CSV-only install asked for coingecko:
            // 780 ms at 3,000,000 rows). With the name in the text the planner sees how many rows
            // it has, and a rare source is read through the source index.
            let value = "'\(source.rawValue)'"
            filters.append("m.source = \(value)")
            rollupFilters.append("c.source = \(value)")
        }
        if let symbol {
            let value = bind(symbol)
            // Symbols are stored upper-cased (a constraint since migration 15), so the symbol
            // index (migration 16) answers this, and an edge count reads that index alone.
            filters.append("m.symbol = upper(\(value))")
            rollupFilters.append("c.symbol = upper(\(value))")
        }
        if let assetID {
            let value = bind(String(assetID))
            // An asset merged away by an operator answers as the asset it was merged into
            // (one InitPlan per execution, then the asset index as before).
            let asset = "(SELECT coalesce(max(x.asset_id), \(value)::bigint) FROM asset_aliases x WHERE x.alias_id = \(value)::bigint)"
            filters.append("m.asset_id = \(asset)")
            rollupFilters.append("c.asset_id = \(asset)")
        }
        // The total: whole buckets from a rollup, partial buckets at the edges from the table.
        let plan = TotalPlan(since: since, until: until, fine: symbol != nil || assetID != nil)
        var totalParts: [String] = []
        if let buckets = plan.buckets {
            var conditions = rollupFilters
            if let from = buckets.from { conditions.append("c.bucket >= \(bind(from.description))::timestamptz") }
            if let to = buckets.to { conditions.append("c.bucket < \(bind(to.description))::timestamptz") }
            let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            totalParts.append("(SELECT coalesce(sum(c.n), 0) FROM \(plan.table) c\(whereClause))")
        }
        for edge in plan.edges {
            let conditions = filters + ["m.observed_at >= \(bind(edge.from.description))::timestamptz",
                                        "m.observed_at < \(bind(edge.to.description))::timestamptz"]
            totalParts.append("(SELECT count(*) FROM market_records m WHERE \(conditions.joined(separator: " AND ")))")
        }
        let totalSQL = totalParts.isEmpty ? "0" : "(" + totalParts.joined(separator: " + ") + ")::bigint"
        if let since { filters.append("m.observed_at >= \(bind(since.description))::timestamptz") }
        if let until { filters.append("m.observed_at < \(bind(until.description))::timestamptz") }
        let order = "m.observed_at DESC, m.source, m.source_id"
        func whereClause(_ conditions: [String]) -> String {
            conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        }
        let page: String
        if case .cursor(let cursor, _) = paging {
            // The rows after the cursor in (observed_at DESC, source, source_id) order: those at the
            // cursor's instant after its (source, source_id), then those before that instant. As
            // two ranges of the key index, neither reads the rows of the cursor's instant it has
            // passed (thousands when a whole snapshot shares one timestamp).
            let at = bind(cursor.observedAt.description)
            let src = bind(cursor.source)
            let sid = bind(cursor.sourceID)
            let limit = bind(String(pageSize))
            page = """
                SELECT * FROM (
                  (SELECT * FROM market_records m \(whereClause(filters + ["m.observed_at = \(at)::timestamptz",
                                                                           "(m.source, m.source_id) > (\(src), \(sid))"]))
                   ORDER BY m.source, m.source_id LIMIT \(limit)::int + 1)
                  UNION ALL
                  (SELECT * FROM market_records m \(whereClause(filters + ["m.observed_at < \(at)::timestamptz"]))
                   ORDER BY \(order) LIMIT \(limit)::int + 1)) m
                ORDER BY \(order) LIMIT \(limit)::int + 1
                """
        } else if self.offset > 0 {
            // Deep pages skip rows by their keys alone (an index-only scan of the key index when the
            // filter allows it), then read each row of the page by its key: skipped rows cost no heap
            // visits (the lookup's LIMIT 1 keeps it a lookup: as a plain join the planner merged it
            // with a scan of every skipped row). LIMIT and OFFSET are written in (validated integers;
            // the statement is not prepared): a generic plan, not knowing them, sorted the whole table.
            // A page past the end is decided from the exact total before any key is read (the
            // condition on `v.total` is a one-time filter): walking the index to skip `offset` keys
            // that are not there would reach the statement timeout on a year of rows.
            page = """
                SELECT r.* FROM (SELECT m.observed_at, m.source, m.source_id FROM market_records m
                                 \(whereClause(filters + ["\(self.offset) < v.total"]))
                                 ORDER BY \(order) LIMIT \(pageSize + 1) OFFSET \(self.offset)) k
                CROSS JOIN LATERAL (SELECT * FROM market_records r WHERE r.observed_at = k.observed_at
                                    AND r.source = k.source AND r.source_id = k.source_id LIMIT 1) r
                ORDER BY r.observed_at DESC, r.source, r.source_id
                """
        } else {
            page = "SELECT * FROM market_records m \(whereClause(filters)) ORDER BY \(order) LIMIT \(bind(String(pageSize)))::int + 1"
        }
        let version = bind(String(knownVersion))
        let total = bind(String(knownTotal))
        let sql = """
            SELECT v.version, v.total, m.asset_id, m.symbol, m.name, m.source, m.source_id, m.price_usd,
                   m.market_cap_usd, m.volume_24h_usd, m.rank, m.observed_at, m.ingested_at
            FROM (SELECT version, CASE WHEN version = \(version)::bigint THEN \(total)::bigint
                                      ELSE \(totalSQL) END AS total
                  FROM data_version) v
            LEFT JOIN LATERAL (\(page)) m ON true
            """
        return (sql, params, prepared: self.offset == 0)
    }

    /// The path and query of the page after this one, for a `Link: <…>; rel="next"` header: the
    /// same filters and page size, paged by the cursor after this page's last row (whatever paging
    /// this page used; a cursor page costs the same at any depth).
    func nextLink(_ cursor: Cursor) -> String {
        var pairs: [(String, String)] = []
        if let source { pairs.append(("source", source.rawValue)) }
        if let symbol { pairs.append(("symbol", symbol)) }
        if let assetID { pairs.append(("asset_id", String(assetID))) }
        if let since { pairs.append(("since", since.description)) }
        if let until { pairs.append(("until", until.description)) }
        pairs.append(("page_size", String(pageSize)))
        pairs.append(("cursor", cursor.encoded))
        return "/data?" + pairs.map { "\($0.0)=\(DataQuery.percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// `value` with everything but RFC 3986's unreserved characters percent-encoded.
    static func percentEncoded(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Filters and paging: the key of a rendered page in the cache.
    var cacheKey: String {
        switch paging {
        case .page(let number, let size): return "p\(number),\(size)|" + filterKey
        case .offset(let limit, let offset): return "o\(limit),\(offset)|" + filterKey
        case .cursor(let cursor, let size): return "c\(size),\(cursor.encoded)|" + filterKey
        }
    }

    /// The filters, as the key of the per-responder total cache.
    var filterKey: String {
        "\(source?.rawValue ?? "")|\(symbol?.uppercased() ?? "")|\(assetID.map(String.init) ?? "")|\(since?.description ?? "")|\(until?.description ?? "")"
    }
}

/// Where a `/data` total comes from, so its cost does not grow with the table: whole buckets of
/// the filter's time range are summed from a rollup (`market_counts_hourly` per hour and source,
/// or `market_counts_monthly` per calendar month, source, asset and ticker when the filter names an
/// asset or a symbol), and only the partial buckets at a `since`/`until` edge are counted in
/// `market_records` itself, through the filter's index: at most one bucket each.
struct TotalPlan: Equatable {
    /// A time range; nil ends are open.
    struct Span: Equatable {
        let from: Timestamp?
        let to: Timestamp?
    }

    /// A closed-open range of partial buckets.
    struct Edge: Equatable {
        let from: Timestamp
        let to: Timestamp
    }

    static let hour: Int64 = 3_600_000_000

    /// The rollup table.
    let table: String
    /// Whole buckets to sum, or nil when the range holds none.
    let buckets: Span?
    /// Partial buckets to count from the table.
    let edges: [Edge]

    init(since: Timestamp?, until: Timestamp?, fine: Bool) {
        table = fine ? "market_counts_monthly" : "market_counts_hourly"
        // The bucket an instant falls in: its start, and the next bucket's start.
        func floor(_ t: Timestamp) -> Timestamp {
            if fine { return t.monthStart }
            let unit = TotalPlan.hour
            let remainder = ((t.microseconds % unit) + unit) % unit
            return Timestamp(microseconds: t.microseconds - remainder)
        }
        func next(_ start: Timestamp) -> Timestamp {
            fine ? start.months(from: 1) : Timestamp(microseconds: start.microseconds + TotalPlan.hour)
        }
        if let since, let until, since >= until {
            // An empty range (since at or after until): nothing to count.
            buckets = nil
            edges = []
            return
        }
        if let since, let until, floor(since) == floor(until) {
            // Both ends in one bucket: count the range directly.
            buckets = nil
            edges = since < until ? [Edge(from: since, to: until)] : []
            return
        }
        var edges: [Edge] = []
        var from: Timestamp?
        if let since {
            let start = floor(since)
            if start == since {
                from = since
            } else {
                from = next(start)
                edges.append(Edge(from: since, to: from!))
            }
        }
        var to: Timestamp?
        if let until {
            let start = floor(until)
            to = start
            if start != until { edges.append(Edge(from: start, to: until)) }
        }
        if let from, let to, from >= to {
            buckets = nil
        } else {
            buckets = Span(from: from, to: to)
        }
        self.edges = edges
    }
}
