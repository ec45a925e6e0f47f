// Results copied out of libpq, read through typed, checked accessors; and a zero-copy view for hot paths.
import CPostgreSQL

/// The rows of one statement, copied out of libpq (text format).
public struct QueryResult: Sendable {
    /// The rows, each read by column name.
    public let rows: [Row]
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
        let names = ColumnNames((0..<columnCount).map { String(cString: PQfname(result, $0)) })
        var rows: [Row] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            rows.append(Row(names: names, values: (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }))
        }
        self.rows = rows
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The only row of a statement that returns exactly one (an aggregate, `RETURNING` of one insert).
    public func single() throws(DatabaseError) -> Row {
        guard rows.count == 1 else {
            throw DatabaseError(.result, detail: "expected exactly one row, got \(rows.count)")
        }
        return rows[0]
    }
}

/// Column positions by name, shared by every row of one result.
final class ColumnNames: Sendable {
    let index: [String: Int]
    init(_ columns: [String]) {
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }
}

/// A value PostgreSQL sends as text that Swift can read back exactly.
public protocol DatabaseValue: Sendable {
    /// Parses PostgreSQL's text form; nil when the text is not a value of this type.
    init?(databaseText: String)
}

extension String: DatabaseValue {
    /// Any text.
    public init?(databaseText: String) { self = databaseText }
}

extension Int: DatabaseValue {
    /// `integer`, `bigint`.
    public init?(databaseText: String) { self.init(databaseText) }
}

extension Int64: DatabaseValue {
    /// `integer`, `bigint`.
    public init?(databaseText: String) { self.init(databaseText) }
}

extension Double: DatabaseValue {
    /// `double precision`, `numeric` (rounded to the nearest double).
    public init?(databaseText: String) { self.init(databaseText) }
}

extension Bool: DatabaseValue {
    /// `boolean` (`t`/`f`).
    public init?(databaseText: String) {
        switch databaseText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

/// One row of a result. Values are read by column name and type; a missing column, an unexpected
/// NULL or a value of the wrong type is a `DatabaseError` of kind `.result`, never a crash.
public struct Row: Sendable {
    private let names: ColumnNames
    /// The raw text values in column order (nil is SQL NULL), for callers that show whole rows.
    public let values: [String?]

    init(names: ColumnNames, values: [String?]) {
        self.names = names
        self.values = values
    }

    /// The non-NULL value of `column`.
    public func get<T: DatabaseValue>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T {
        guard let value = try optional(column, as: type) else {
            throw DatabaseError(.result, detail: "column \(column) is NULL")
        }
        return value
    }

    /// The value of `column`, nil for SQL NULL.
    public func optional<T: DatabaseValue>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T? {
        guard let position = names.index[column] else {
            throw DatabaseError(.result, detail: "no column \(column) in the result")
        }
        guard let text = values[position] else { return nil }
        guard let value = T(databaseText: text) else {
            throw DatabaseError(.result, detail: "column \(column): \(text.prefix(40).debugDescription) is not a \(T.self)")
        }
        return value
    }

    /// The value of `column` as one of an enumeration's names (a source, a run status).
    public func get<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T
        where T.RawValue == String {
        let text: String = try get(column)
        guard let value = T(rawValue: text) else {
            throw DatabaseError(.result, detail: "column \(column): \(text.prefix(40).debugDescription) is not a \(T.self)")
        }
        return value
    }
}

/// A read-only view of a result's rows, valid only inside `withPreparedRows`.
public struct RowView {
    private let result: OpaquePointer
    /// Number of rows.
    public let count: Int
    /// Number of columns.
    public let columnCount: Int

    init(result: OpaquePointer) {
        self.result = result
        count = Int(PQntuples(result))
        columnCount = Int(PQnfields(result))
    }

    /// Whether the value is SQL NULL.
    public func isNull(_ row: Int, _ column: Int) -> Bool {
        precondition(row >= 0 && row < count && column >= 0 && column < columnCount, "RowView index out of range")
        return PQgetisnull(result, Int32(row), Int32(column)) == 1
    }

    /// The value's text bytes (empty for NULL), without copying.
    public func bytes(_ row: Int, _ column: Int) -> UnsafeBufferPointer<UInt8> {
        precondition(row >= 0 && row < count && column >= 0 && column < columnCount, "RowView index out of range")
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        guard let value = PQgetvalue(result, Int32(row), Int32(column)) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: length)
    }

    /// The value as a String, or nil for NULL.
    public func string(_ row: Int, _ column: Int) -> String? {
        isNull(row, column) ? nil : String(decoding: bytes(row, column), as: UTF8.self)
    }
}
