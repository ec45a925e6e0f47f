// Renders a /data page from one statement's rows; pages and totals cached per responder by data version.
import Foundation
import HTTPMessage
import MarketData
import Store
import Support
import Telemetry

enum DataPage {
    // Column positions of `DataQuery.statement`.
    private enum Column {
        static let version = 0, total = 1, assetID = 2, symbol = 3, name = 4, source = 5, sourceID = 6
        static let price = 7, marketCap = 8, volume = 9, rank = 10, observedAt = 11, ingestedAt = 12
        static let count = 13
    }

    static let versionSQL = "SELECT version FROM data_version"

    /// The page `request` asks for, as JSON or (`Accept: text/csv`) CSV, with a weak
    /// `ETag` naming the data version, the timeline, the query and the representation; a request
    /// whose `If-None-Match` names the current page is a 304, with no database round trip while the
    /// version listener is trusted. A query string seen before is not parsed again: its page key is
    /// remembered (parsing and normalizing was a tenth of a cached request's cost).
    static func render(_ request: Request, session: ReadSession, cache: PageCache, watcher: VersionWatcher?,
                       metrics: SharedMetrics, elapsed: () -> Double) throws(APIError) -> Response {
        let rawQuery = request.query
        let representation = Representation(accept: request.accept)
        let timeline = watcher?.timeline ?? 0
        let trusted = watcher?.trustedVersion()
        if let trusted, let (key, entry) = cache.hit(query: rawQuery, representation: representation, version: trusted) {
            return respond(entry, key: key, representation, timeline: timeline, request, elapsed: elapsed)
        }
        var query: DataQuery?
        let key: String
        if let known = cache.key(forQuery: rawQuery) {
            key = representation.key(known)
        } else {
            let parsed = try DataQuery(query: rawQuery)  // a bad parameter is a 400 before any database work
            query = parsed
            key = representation.key(parsed.cacheKey)
        }
        // The version the page must be at least: the listener's when it is trusted (no database
        // round trip for a cached page), else asked of the database as part of this request.
        let current: Int64
        if let trusted {
            current = trusted
        } else {
            metrics.versionCheck()
            current = try session.run { connection in
                try connection.withPreparedRows(versionSQL, []) { rows in
                    rows.count == 1 && rows.columnCount == 1 ? rows.string(0, 0).flatMap(Int64.init) ?? -1 : -1
                }
            }
        }
        // The client holds the page at the current version: nothing to send, nothing to compute.
        if let tags = request.ifNoneMatch {
            let tag = ETag.make(timeline: timeline, version: current, key: key)
            if ETag.matches(tags, tag) {
                if query != nil { cache.remember(query: rawQuery, key: representation.unkeyed(key)) }
                return notModified(tag)
            }
        }
        let entry: PageCache.Entry
        do {
            // One thread per responder runs a missed page's statement; the others wait for it.
            entry = try cache.page(key, version: current, waitSeconds: ReadSession.statementTimeoutSeconds) {
                let query = try query ?? DataQuery(query: rawQuery)
                return try session.run { connection in
                    metrics.pageStatement()
                    let known = cache.total(query.filterKey)
                    let statement = query.statement(knownVersion: known?.version ?? -1, knownTotal: known?.total ?? 0)
                    let page = try statement.prepared
                        ? connection.withPreparedRows(statement.sql, statement.params) { rows in
                            try write(rows, size: query.pageSize, representation) }
                        : connection.withRows(statement.sql, statement.params) { rows in
                            try write(rows, size: query.pageSize, representation) }
                    cache.storeTotal(query.filterKey, version: page.version, total: page.total)
                    let next = page.next.map { query.nextLink($0) }
                    let body = representation == .json ? renderTail(query, page) : page.body.bytes
                    return PageCache.Entry(version: page.version, tail: body, total: page.total, next: next)
                }
            }
        } catch {
            throw ReadSession.clientError(error)
        }
        if query != nil { cache.remember(query: rawQuery, key: representation.unkeyed(key)) }
        return respond(entry, key: key, representation, timeline: timeline, request, elapsed: elapsed)
    }

    private static func respond(_ entry: PageCache.Entry, key: String, _ representation: Representation, timeline: Int64,
                                _ request: Request, elapsed: () -> Double) -> Response {
        let tag = ETag.make(timeline: timeline, version: entry.version, key: key)
        if let tags = request.ifNoneMatch, ETag.matches(tags, tag) { return notModified(tag) }
        var headers = validatorHeaders(tag)
        if let next = entry.next { headers.append(("Link", "<\(next)>; rel=\"next\"")) }
        switch representation {
        case .json:
            var out = envelope(requestID: request.requestID, latencyMS: elapsed(), capacity: entry.tail.count + 128)
            out.raw(entry.tail)
            return Response(status: 200, bytes: out.bytes, headers: headers)
        case .csv:
            headers.append(("X-Total-Count", String(entry.total)))
            return Response(status: 200, bytes: entry.tail, headers: headers, contentType: Representation.csvType)
        }
    }

    /// Revalidation only: the next commit's time is unknown, so a client asks each time (`no-cache`),
    /// and a shared cache must not keep a page it got with a client's key (`private`).
    private static func validatorHeaders(_ tag: String) -> [(String, String)] {
        [("ETag", tag), ("Cache-Control", "private, no-cache"), ("Vary", "Accept")]
    }

    private static func notModified(_ tag: String) -> Response {
        Response(status: 304, bytes: [], headers: validatorHeaders(tag))
    }

    private static func renderTail(_ query: DataQuery, _ page: Page) -> [UInt8] {
        var out = JSONWriter(capacity: page.body.bytes.count + 200)
        out.raw(",\"data\":")
        out.raw(page.body)
        out.raw(",\"total\":\(page.total)")
        switch query.paging {
        case .page(let number, let size): out.raw(",\"page\":\(number),\"page_size\":\(size)")
        case .offset(let limit, let offset): out.raw(",\"limit\":\(limit),\"offset\":\(offset)")
        case .cursor(_, let size): out.raw(",\"page_size\":\(size)")
        }
        out.raw(",\"next_cursor\":" + (page.next.map { jsonString($0.encoded) } ?? "null") + "}")
        return out.bytes
    }

    /// The nullable numeric fields, in output order, with their columns.
    private static let numericFields: [(StaticString, Int)] = [
        (",\"price_usd\":", Column.price), (",\"market_cap_usd\":", Column.marketCap),
        (",\"volume_24h_usd\":", Column.volume), (",\"rank\":", Column.rank),
    ]

    private struct Page {
        var version: Int64
        var total: Int64
        /// JSON: the records' array; CSV: the header row and a row per record.
        var body: JSONWriter
        var next: DataQuery.Cursor?
    }

    /// Writes the records as a JSON array, or as CSV rows under a header row. NUMERIC text is
    /// already a valid JSON number (PostgreSQL never prints an exponent for numeric), so values are
    /// copied digit for digit, the same in both.
    private static func write(_ rows: RowView, size: Int, _ representation: Representation) throws(APIError) -> Page {
        guard rows.count > 0, rows.columnCount == Column.count, let version = rows.string(0, Column.version).flatMap(Int64.init),
              let total = rows.string(0, Column.total).flatMap(Int64.init) else {
            throw APIError.internalError
        }
        var out = JSONWriter(capacity: min(rows.count, size) * 300 + 200)
        let records = (0..<rows.count).lazy.filter { !rows.isNull($0, Column.sourceID) }.prefix(size)
        switch representation {
        case .json:
            out.raw("[")
            for (index, row) in records.enumerated() {
                if index > 0 { out.raw(",") }
                out.raw("{\"asset_id\":"); out.raw(rows.bytes(row, Column.assetID))
                out.raw(",\"symbol\":"); out.string(rows.bytes(row, Column.symbol))
                out.raw(",\"name\":"); out.string(rows.bytes(row, Column.name))
                out.raw(",\"source\":"); out.string(rows.bytes(row, Column.source))
                out.raw(",\"source_id\":"); out.string(rows.bytes(row, Column.sourceID))
                for (field, column) in numericFields {
                    out.raw(field)
                    if rows.isNull(row, column) { out.raw("null") } else { out.raw(rows.bytes(row, column)) }
                }
                out.raw(",\"observed_at\":"); out.timestamp(rows.bytes(row, Column.observedAt))
                out.raw(",\"ingested_at\":"); out.timestamp(rows.bytes(row, Column.ingestedAt))
                out.raw("}")
            }
            out.raw("]")
        case .csv:
            out.raw(Representation.csvHeader)
            for row in records {
                out.raw(rows.bytes(row, Column.assetID))
                for column in [Column.symbol, Column.name, Column.source, Column.sourceID] {
                    out.raw(",")
                    out.csvField(rows.bytes(row, column))
                }
                for (_, column) in numericFields {
                    out.raw(",")
                    if !rows.isNull(row, column) { out.raw(rows.bytes(row, column)) }
                }
                out.raw(",")
                out.timestamp(rows.bytes(row, Column.observedAt), quoted: false)
                out.raw(",")
                out.timestamp(rows.bytes(row, Column.ingestedAt), quoted: false)
                out.raw("\r\n")
            }
        }
        var next: DataQuery.Cursor?
        // One row beyond the page means another page follows: the cursor names the page's last row.
        if rows.count > size, !rows.isNull(size, Column.sourceID), let observed = rows.string(size - 1, Column.observedAt),
           let at = Timestamp.parsePostgres(observed) {
            next = DataQuery.Cursor(observedAt: at, source: rows.string(size - 1, Column.source) ?? "",
                                    sourceID: rows.string(size - 1, Column.sourceID) ?? "")
        }
        return Page(version: version, total: total, body: out, next: next)
    }
}

/// How a `/data` page is written: JSON (the default) or CSV (`Accept: text/csv`), each its own
/// cache entry and validator.
enum Representation: Equatable {
    case json, csv

    static let csvType = "text/csv; charset=utf-8; header=present"
    static let csvHeader: StaticString = "asset_id,symbol,name,source,source_id,price_usd,market_cap_usd,volume_24h_usd,rank,observed_at,ingested_at\r\n"

    /// CSV when the client's `Accept` names `text/csv` (with a quality above 0) and does not prefer
    /// JSON over it; JSON otherwise.
    init(accept: String?) {
        guard let accept else { self = .json; return }
        var csv = -1.0, json = -1.0
        for part in accept.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = pieces.first else { continue }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if type == "text/csv" { csv = max(csv, quality) }
            if type == "application/json" { json = max(json, quality) }
        }
        self = csv > 0 && csv >= json ? .csv : .json
    }

    /// The cache key of a page in this representation.
    func key(_ pageKey: String) -> String { self == .csv ? "csv|" + pageKey : pageKey }

    /// The page key back from a cache key.
    func unkeyed(_ key: String) -> String { self == .csv ? String(key.dropFirst(4)) : key }
}

/// Weak validators of `/data` pages: `W/"<timeline>.<version>.<query hash>"`. Weak, because the
/// body's `request_id` and `api_latency_ms` differ on every response.
enum ETag {
    static func make(timeline: Int64, version: Int64, key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the page key (query and representation)
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return "W/\"\(timeline).\(version).\(String(hash, radix: 16))\""
    }

    /// Whether `header` (an `If-None-Match` list, or `*`) names `tag`; compared weakly, as RFC 9110 asks.
    static func matches(_ header: String, _ tag: String) -> Bool {
        let opaque = tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
        for candidate in header.split(separator: ",") {
            let trimmed = candidate.trimmingCharacters(in: .whitespaces)
            if trimmed == "*" { return true }
            if (trimmed.hasPrefix("W/") ? String(trimmed.dropFirst(2)) : trimmed) == opaque { return true }
        }
        return false
    }
}
