// Database errors: a generic description for users, the libpq detail for logs only.

/// A failure talking to PostgreSQL.
///
/// `description` never contains server text, so it is safe to show a client; `debugDescription`
/// carries libpq's message and the SQLSTATE for logs.
public struct DatabaseError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, in broad terms.
    public enum Kind: String, Sendable {
        /// The server could not be reached or the connection broke.
        case connection
        /// A statement failed (constraint, syntax, permission).
        case statement
        /// A parameter could not be sent (for example a NUL byte in text).
        case parameter
        /// A result did not have the shape its reader expects (missing column, NULL, wrong type).
        case result
    }

    /// The broad kind.
    public let kind: Kind
    /// The SQLSTATE code, when the server sent one.
    public let sqlState: String?
    /// libpq's or the server's message; for logs only.
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, sqlState: String? = nil, detail: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.detail = detail
    }

    /// Generic text that is safe to show to API clients.
    public var description: String {
        switch kind {
        case .connection: return "database unavailable"
        case .statement: return "database statement failed"
        case .parameter: return "invalid database parameter"
        case .result: return "unexpected database result"
        }
    }

    /// Full detail for operators' logs.
    public var debugDescription: String {
        "\(kind.rawValue) error\(sqlState.map { " [\($0)]" } ?? ""): \(detail)"
    }

    /// Whether the server is overloaded or the statement was in the way of recovery, rather than
    /// the statement wrong: the statement timeout or a cancel (57014), a lock not available
    /// (55P03), too few resources (class 53: connections, memory, disk), or a hot standby
    /// cancelling a read that conflicts with the WAL it replays (40001, and 40P01 for a buffer-pin
    /// deadlock). Worth a retry later.
    public var isOverload: Bool {
        guard let state = sqlState else { return false }
        return state == SQLState.queryCanceled || state == SQLState.lockNotAvailable
            || state.hasPrefix(SQLState.insufficientResourcesClass)
            || state == SQLState.serializationFailure || state == SQLState.deadlockDetected
    }

    /// Whether a hot standby cancelled the statement for the WAL it replays (40001; 40P01 when the
    /// startup process and the read wait for each other) — or, on a primary, a serialization failure
    /// or a deadlock. PostgreSQL's advice for both: run the transaction again.
    public var isRetryable: Bool {
        sqlState == SQLState.serializationFailure || sqlState == SQLState.deadlockDetected
    }

    /// Whether the connection itself is gone (SQLSTATE class 08, 57P01..57P03, or no connection).
    public var isConnectionLoss: Bool {
        if kind == .connection { return true }
        guard let state = sqlState else { return false }
        return state.hasPrefix(SQLState.connectionExceptionClass) || state == SQLState.adminShutdown
            || state == SQLState.crashShutdown || state == SQLState.cannotConnectNow
    }
}

/// The SQLSTATE codes the product tells apart (PostgreSQL's Appendix A), by their names.
public enum SQLState {
    /// 23505: a unique or primary key already holds the value.
    public static let uniqueViolation = "23505"
    /// 55P03: a lock was not granted within `lock_timeout`.
    public static let lockNotAvailable = "55P03"
    /// 40001: a serialization failure; on a hot standby, a statement cancelled for a conflict with recovery.
    public static let serializationFailure = "40001"
    /// 40P01: a deadlock (on a hot standby also a recovery conflict over a buffer pin).
    public static let deadlockDetected = "40P01"
    /// 57014: the statement was cancelled (`statement_timeout`, or a cancel request).
    public static let queryCanceled = "57014"
    /// 57P01: the server is shutting down (or the backend was terminated).
    public static let adminShutdown = "57P01"
    /// 57P02: the server crashed.
    public static let crashShutdown = "57P02"
    /// 57P03: the server is starting up or recovering.
    public static let cannotConnectNow = "57P03"
    /// Class 08: the connection failed or broke.
    public static let connectionExceptionClass = "08"
    /// Class 53: too few resources (connections, memory, disk).
    public static let insufficientResourcesClass = "53"
    /// 53100: no space left on the disk of a table, index or temporary file.
    public static let diskFull = "53100"

    /// What an operator reads for `state` in a run's error: the condition and what to do, from the
    /// code alone (the server's message may quote data values); nil for codes without one.
    public static func explanation(_ state: String) -> String? {
        switch state {
        case diskFull: return "disk full: the database's disk has no space left; free some, and the next run resumes"
        case "53200": return "out of memory in the database server"
        case "53300": return "too many connections to the database server"
        case queryCanceled: return "statement cancelled (statement_timeout, or a cancel request)"
        case lockNotAvailable: return "a lock was not granted in time (lock_timeout)"
        case deadlockDetected: return "deadlock detected"
        case serializationFailure: return "serialization failure (on a standby: a read cancelled by replay)"
        case "25006": return "read-only transaction: connected to a standby, not the primary"
        default: return nil
        }
    }
}
