// A small owning wrapper over one libpq connection: parameters always bound, results copied out.
import CPostgreSQL
import Glibc
import MarketData

/// One PostgreSQL connection. Not thread-safe: each thread owns its own.
public final class Connection {
    private var handle: OpaquePointer?
    private var prepared: Set<String> = []
    private let conninfo: String
    private let applicationName: String
    private let statementTimeoutMS: Int
    private let genericPlans: Bool

    /// Connects with a libpq conninfo string or URI (`DATABASE_URL`).
    ///
    /// `connect_timeout` defaults to 3 seconds and the session time zone is UTC.
    ///
    /// `generic plans` makes prepared statements keep one plan (`plan_cache_mode`): the API's
    /// statements are shaped so one plan fits every value, and re-planning each execution was
    /// the largest cost measured on the `/data` path.
    public init(conninfo: String, applicationName: String, statementTimeoutMS: Int = 0,
                genericPlans: Bool = false) throws(DatabaseError) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.statementTimeoutMS = statementTimeoutMS
        self.genericPlans = genericPlans
        let keys = ["connect_timeout", "application_name", "dbname", "options"]
        let values = ["3", applicationName, conninfo, "-c TimeZone=UTC -c statement_timeout=\(statementTimeoutMS)"
                      + (genericPlans ? " -c plan_cache_mode=force_generic_plan" : "")]
        handle = withCStringArray(keys) { k in withCStringArray(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let handle { PQfinish(handle) }
            self.handle = nil
            throw DatabaseError(.connection, detail: String(message.trimmingBlanks()))
        }
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Whether libpq still considers the connection usable.
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs one statement with text parameters (`$1`, `$2`, …) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws(DatabaseError) -> QueryResult {
        let handle = try liveHandle()
        try checkParams(params)
        let result = withCStringArray(params) { values in
            PQexecParams(handle, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
        return try QueryResult(result, connection: handle)
    }

    /// Runs a named prepared statement, preparing it on first use on this connection.
    @discardableResult
    public func queryPrepared(_ name: String, _ sql: String, _ params: [String?] = []) throws(DatabaseError) -> QueryResult {
        let handle = try liveHandle()
        return try QueryResult(try execPrepared(handle, name, sql, params), connection: handle)
    }

    /// Runs a named prepared statement and hands its rows to `body` without copying them into
    /// Swift strings (for hot paths that write the bytes straight into a response).
    public func withPreparedRows<T>(_ name: String, _ sql: String, _ params: [String?],
                                    _ body: (RowView) throws -> T) throws -> T {
        let handle = try liveHandle()
        let result = try QueryResult.check(try execPrepared(handle, name, sql, params), connection: handle)
        defer { PQclear(result) }
        return try body(RowView(result: result))
    }

    /// Prepares `name` on first use on this connection, then executes it; the caller checks the result.
    private func execPrepared(_ handle: OpaquePointer, _ name: String, _ sql: String, _ params: [String?]) throws(DatabaseError) -> OpaquePointer? {
        try checkParams(params)
        if !prepared.contains(name) {
            _ = try QueryResult(PQprepare(handle, name, sql, Int32(params.count), nil), connection: handle)
            prepared.insert(name)
        }
        return withCStringArray(params) { values in
            PQexecPrepared(handle, name, Int32(params.count), values, nil, nil, 0)
        }
    }

    /// Runs statements without parameters (several may be separated by `;`).
    public func execute(_ sql: String) throws(DatabaseError) {
        let handle = try liveHandle()
        _ = try QueryResult(PQexec(handle, sql), connection: handle)
    }

    /// Runs `body` inside BEGIN/COMMIT; any error rolls back and is rethrown.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Drops and re-opens the connection (after the server restarted); forgets prepared statements.
    public func reconnect() throws(DatabaseError) {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared.removeAll()
        let fresh = try Connection(conninfo: conninfo, applicationName: applicationName, statementTimeoutMS: statementTimeoutMS, genericPlans: genericPlans)
        swap(&handle, &fresh.handle)
    }

    private func liveHandle() throws(DatabaseError) -> OpaquePointer {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw DatabaseError(.connection, detail: "connection is closed")
        }
        return handle
    }

    private func checkParams(_ params: [String?]) throws(DatabaseError) {
        for case let value? in params where value.utf8.contains(0) {
            throw DatabaseError(.parameter, detail: "text parameter contains a NUL byte")
        }
    }
}

/// The rows of one statement, copied out of libpq (text format).
public struct QueryResult: Sendable {
    /// Column names in order.
    public let columns: [String]
    /// Rows of text values; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows affected, for INSERT/UPDATE/DELETE.
    public let affectedRows: Int

    /// Returns `result` when it succeeded; otherwise clears it and throws the server's error.
    static func check(_ result: OpaquePointer?, connection: OpaquePointer) throws(DatabaseError) -> OpaquePointer {
        guard let result else {
            throw DatabaseError(.connection, detail: String(String(cString: PQerrorMessage(connection)).trimmingBlanks()))
        }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(String(cString: PQresultErrorMessage(result)).trimmingBlanks())
            let lost = PQstatus(connection) != CONNECTION_OK || status == PGRES_FATAL_ERROR && state == nil
            PQclear(result)
            throw DatabaseError(lost ? .connection : .statement, sqlState: state, detail: message)
        }
        return result
    }

    init(_ raw: OpaquePointer?, connection: OpaquePointer) throws(DatabaseError) {
        let result = try QueryResult.check(raw, connection: connection)
        defer { PQclear(result) }
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            rows.append((0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        self.rows = rows
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The first row's first value, if any.
    public var scalar: String? { rows.first?.first ?? nil }
}

/// A read-only view of a result's rows, valid only inside `withPreparedRows`.
public struct RowView {
    fileprivate let result: OpaquePointer

    /// Number of rows.
    public var count: Int { Int(PQntuples(result)) }

    /// Whether the value is SQL NULL.
    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    /// The value's text bytes (empty for NULL), without copying.
    public func bytes(_ row: Int, _ column: Int) -> UnsafeBufferPointer<UInt8> {
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        let start = UnsafeRawPointer(PQgetvalue(result, Int32(row), Int32(column))!).assumingMemoryBound(to: UInt8.self)
        return UnsafeBufferPointer(start: start, count: length)
    }

    /// The value as a String, or nil for NULL.
    public func string(_ row: Int, _ column: Int) -> String? {
        isNull(row, column) ? nil : String(decoding: bytes(row, column), as: UTF8.self)
    }
}

/// Passes Swift strings to C as a NULL-terminated-string array for the duration of `body`.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}
