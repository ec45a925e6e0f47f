// A small owning wrapper over one libpq connection: parameters always bound, results copied out.
import CPostgreSQL
import Glibc

/// One PostgreSQL connection. Not thread-safe: each thread owns its own.
public final class Connection {
    private var handle: OpaquePointer?
    private var prepared: Set<String> = []
    private let conninfo: String
    private let applicationName: String
    private let statementTimeoutMS: Int

    /// Connects with a libpq conninfo string or URI (`DATABASE_URL`).
    ///
    /// `connect_timeout` defaults to 3 seconds and the session time zone is UTC.
    public init(conninfo: String, applicationName: String, statementTimeoutMS: Int = 0) throws(DatabaseError) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.statementTimeoutMS = statementTimeoutMS
        let keys = ["connect_timeout", "application_name", "dbname", "options"]
        let values = ["3", applicationName, conninfo, "-c TimeZone=UTC -c statement_timeout=\(statementTimeoutMS)"]
        handle = withCStringArray(keys) { k in withCStringArray(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let handle { PQfinish(handle) }
            self.handle = nil
            throw DatabaseError(.connection, detail: message.trimmingCharacters())
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
        try checkParams(params)
        if !prepared.contains(name) {
            _ = try QueryResult(PQprepare(handle, name, sql, Int32(params.count), nil), connection: handle)
            prepared.insert(name)
        }
        let result = withCStringArray(params) { values in
            PQexecPrepared(handle, name, Int32(params.count), values, nil, nil, 0)
        }
        return try QueryResult(result, connection: handle)
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
        let fresh = try Connection(conninfo: conninfo, applicationName: applicationName, statementTimeoutMS: statementTimeoutMS)
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

    init(_ result: OpaquePointer?, connection: OpaquePointer) throws(DatabaseError) {
        guard let result else {
            throw DatabaseError(.connection, detail: String(cString: PQerrorMessage(connection)).trimmingCharacters())
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters()
            let lost = PQstatus(connection) != CONNECTION_OK || status == PGRES_FATAL_ERROR && state == nil
            throw DatabaseError(lost ? .connection : .statement, sqlState: state, detail: message)
        }
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

/// Passes Swift strings to C as a NULL-terminated-string array for the duration of `body`.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}

extension String {
    func trimmingCharacters() -> String {
        var text = Substring(self)
        while let last = text.last, last == "\n" || last == " " || last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
