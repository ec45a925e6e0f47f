// Renders a /data page from one statement's rows; pages and totals cached per responder by data version.
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

    /// The page for the query string `rawQuery`. A query string seen before is not parsed again: its
    /// page key is remembered (parsing and normalizing was a tenth of a cached request's cost).
    static func render(rawQuery: String, session: ReadSession, cache: PageCache, watcher: VersionWatcher?,
                       metrics: SharedMetrics, requestID: String, elapsed: () -> Double) throws(APIError) -> [UInt8] {
        let trusted = watcher?.trustedVersion()
        if let trusted, let entry = cache.hit(query: rawQuery, version: trusted) {
            return respond(entry.tail, requestID: requestID, elapsed: elapsed)
        }
        var query: DataQuery?
        let key: String
        if let known = cache.key(forQuery: rawQuery) {
            key = known
        } else {
            let parsed = try DataQuery(query: rawQuery)  // a bad parameter is a 400 before any database work
            query = parsed
            key = parsed.cacheKey
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
        let tail: [UInt8]
        do {
            // One thread per responder runs a missed page's statement; the others wait for it.
            tail = try cache.page(key, version: current, waitSeconds: ReadSession.statementTimeoutSeconds) {
                let query = try query ?? DataQuery(query: rawQuery)
                return try session.run { connection in
                    metrics.pageStatement()
                    let known = cache.total(query.filterKey)
                    let statement = query.statement(knownVersion: known?.version ?? -1, knownTotal: known?.total ?? 0)
                    let page = try statement.prepared
                        ? connection.withPreparedRows(statement.sql, statement.params) { rows in try write(rows, size: query.pageSize) }
                        : connection.withRows(statement.sql, statement.params) { rows in try write(rows, size: query.pageSize) }
                    cache.storeTotal(query.filterKey, version: page.version, total: page.total)
                    return PageCache.Entry(version: page.version, tail: renderTail(query, page))
                }
            }.tail
        } catch {
            throw ReadSession.clientError(error)
        }
        if query != nil { cache.remember(query: rawQuery, key: key) }
        return respond(tail, requestID: requestID, elapsed: elapsed)
    }

    private static func respond(_ tail: [UInt8], requestID: String, elapsed: () -> Double) -> [UInt8] {
        var out = envelope(requestID: requestID, latencyMS: elapsed(), capacity: tail.count + 128)
        out.raw(tail)
        return out.bytes
    }

    private static func renderTail(_ query: DataQuery, _ page: Page) -> [UInt8] {
        var out = JSONWriter(capacity: page.json.bytes.count + 200)
        out.raw(",\"data\":")
        out.raw(page.json)
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
        var json: JSONWriter
        var next: DataQuery.Cursor?
    }

    /// Writes the records as a JSON array; NUMERIC text is already a valid JSON number (PostgreSQL
    /// never prints an exponent for numeric), so values are copied digit for digit.
    private static func write(_ rows: RowView, size: Int) throws(APIError) -> Page {
        guard rows.count > 0, rows.columnCount == Column.count, let version = rows.string(0, Column.version).flatMap(Int64.init),
              let total = rows.string(0, Column.total).flatMap(Int64.init) else {
            throw APIError.internalError
        }
        var json = JSONWriter(capacity: min(rows.count, size) * 300 + 2)
        json.raw("[")
        var written = 0
        for row in 0..<rows.count where !rows.isNull(row, Column.sourceID) && written < size {
            if written > 0 { json.raw(",") }
            written += 1
            json.raw("{\"asset_id\":"); json.raw(rows.bytes(row, Column.assetID))
            json.raw(",\"symbol\":"); json.string(rows.bytes(row, Column.symbol))
            json.raw(",\"name\":"); json.string(rows.bytes(row, Column.name))
            json.raw(",\"source\":"); json.string(rows.bytes(row, Column.source))
            json.raw(",\"source_id\":"); json.string(rows.bytes(row, Column.sourceID))
            for (field, column) in numericFields {
                json.raw(field)
                if rows.isNull(row, column) { json.raw("null") } else { json.raw(rows.bytes(row, column)) }
            }
            json.raw(",\"observed_at\":"); json.timestamp(rows.bytes(row, Column.observedAt))
            json.raw(",\"ingested_at\":"); json.timestamp(rows.bytes(row, Column.ingestedAt))
            json.raw("}")
        }
        json.raw("]")
        var next: DataQuery.Cursor?
        // One row beyond the page means another page follows: the cursor names the page's last row.
        if rows.count > size, !rows.isNull(size, Column.sourceID), let observed = rows.string(size - 1, Column.observedAt),
           let at = Timestamp.parsePostgres(observed) {
            next = DataQuery.Cursor(observedAt: at, source: rows.string(size - 1, Column.source) ?? "",
                                    sourceID: rows.string(size - 1, Column.sourceID) ?? "")
        }
        return Page(version: version, total: total, json: json, next: next)
    }
}
