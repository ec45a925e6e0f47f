// Renders a /data page: one statement, PostgreSQL builds the records' JSON, totals cached per data version.
import Store
import Telemetry

enum DataPage {
    static func render(_ query: DataQuery, session: ReadSession, requestID: String, elapsed: () -> Double) throws(APIError) -> String {
        let key = query.filterKey
        let known = session.totals[key]
        let statement = query.statement(knownVersion: known?.version ?? -1, knownTotal: known?.total ?? 0)
        let row = try session.run { connection in
            try connection.queryPrepared(statement.name, statement.sql, statement.params).rows[0]
        }
        guard let version = Int64(row[0] ?? ""), let total = Int64(row[1] ?? ""), let data = row[2] else {
            throw APIError.internalError
        }
        session.totals[key] = (version, total)
        var body = ",\"data\":"
        body.reserveCapacity(data.utf8.count + 256)
        body += data + ",\"total\":\(total)"
        switch query.paging {
        case .page(let number, let size): body += ",\"page\":\(number),\"page_size\":\(size)"
        case .offset(let limit, let offset): body += ",\"limit\":\(limit),\"offset\":\(offset)"
        case .cursor(_, let size): body += ",\"page_size\":\(size)"
        }
        body += ",\"next_cursor\":" + (row[3].flatMap(cursor).map { jsonString($0.encoded) } ?? "null") + "}"
        return envelope(requestID: requestID, latencyMS: elapsed()) + body
    }

    private static func cursor(_ raw: String) -> DataQuery.Cursor? {
        let parts = raw.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let micros = Int64(parts[0]) else { return nil }
        return DataQuery.Cursor(observedAt: .init(microseconds: micros), source: String(parts[1]), sourceID: String(parts[2]))
    }
}
