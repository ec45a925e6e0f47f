// A responder thread's database access: one lazily opened read-only connection that reconnects itself.
import Dispatch
import Glibc
import Logging
import Store
import Telemetry

/// Owns one thread's libpq connection (the API's read-only role).
///
/// The connection opens on first use. When a statement fails because the connection is gone
/// (database restarted), the session reconnects once and retries; when the database cannot be
/// reached it answers `APIError.databaseUnavailable` at once rather than waiting.
public final class ReadSession {
    private let conninfo: String
    private let logger: Logger
    private var connection: Connection?
    private let onDatabaseError: () -> Void
    /// How long a request waits for a schema older than this binary's to be migrated.
    private let schemaWaitSeconds: Double
    /// The connection's database has every migration this binary knows (checked until it has).
    private var schemaReady = false
    /// Whether standbys are preferred (a multi-host conninfo with `target_session_attrs=prefer-standby`).
    private let prefersStandby: Bool
    /// The watcher's standby epoch: it changes when a standby answers again.
    private let standbyEpoch: () -> Int
    /// The connection is on the primary although standbys are preferred, as of this epoch.
    private var onPrimarySince: Int?
    /// The watcher's servers avoided for their lag, and the epoch that changes with them.
    private let avoidanceEpoch: () -> Int
    private let avoidedServers: () -> Set<String>
    /// The avoidance epoch the connection was last checked against.
    private var checkedAvoidance = 0

    /// Creates a session for `conninfo` (no connection is made yet). `standbyEpoch` (the version
    /// watcher's) tells a session that fell back to the primary when to try a standby again.
    /// `schemaWaitSeconds` bounds the wait for a database behind `Migrations.latest`.
    public init(conninfo: String, logger: Logger, onDatabaseError: @escaping () -> Void = {},
                standbyEpoch: @escaping () -> Int = { 0 }, avoidanceEpoch: @escaping () -> Int = { 0 },
                avoidedServers: @escaping () -> Set<String> = { [] }, schemaWaitSeconds: Double = 2) {
        self.conninfo = conninfo
        self.schemaWaitSeconds = schemaWaitSeconds
        self.logger = logger
        self.onDatabaseError = onDatabaseError
        self.prefersStandby = ConnectionTarget.movesToStandbys(conninfo)
        self.standbyEpoch = standbyEpoch
        self.avoidanceEpoch = avoidanceEpoch
        self.avoidedServers = avoidedServers
    }

    /// Runs `body` with a live connection. Connection loss is retried once on a new connection; a
    /// read a hot standby cancelled for a conflict with recovery (`DatabaseError.isRetryable`) once
    /// on the same one. Reads only: `body` may run twice.
    func run<T>(_ body: (Connection) throws -> T) throws(APIError) -> T {
        for attempt in 0..<2 {
            do {
                let live = try current()
                return try body(live)
            } catch let error as DatabaseError where error.isConnectionLoss {
                onDatabaseError()
                connection = nil
                if attempt == 1 {
                    logger.warning("database unavailable", metadata: ["error": "\(error.debugDescription)"])
                    throw .databaseUnavailable
                }
            } catch let error as DatabaseError where error.isRetryable && attempt == 0 {
                // A standby cancelled the read to replay WAL in its way; the next snapshot is past it.
                logger.notice("database read cancelled by recovery; run once more", metadata: [
                    "error": "\(error.debugDescription)"])
            } catch let error as DatabaseError {
                onDatabaseError()
                logger.log(level: error.isOverload ? .warning : .error, "database statement failed",
                           metadata: ["error": "\(error.debugDescription)"])
                throw ReadSession.clientError(error)
            } catch {
                if !(error is APIError || error is PageCache.SharedFailure) {
                    logger.error("unexpected error", metadata: ["error": "\(error)"])  // shared failures were logged by their own thread
                }
                throw ReadSession.clientError(error)
            }
        }
        throw .databaseUnavailable
    }

    /// What a client is told about `error`, with nothing from the database in it: connection loss
    /// and overload are 503s with Retry-After, a parameter the database cannot store a 400, anything
    /// else a 500. Also for another thread's failure shared with this request (`PageCache`).
    static func clientError(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case let error as PageCache.SharedFailure: return clientError(error.underlying)
        case let error as DatabaseError where error.isConnectionLoss: return .databaseUnavailable
        case let error as DatabaseError where error.isOverload: return .overloaded
        case let error as DatabaseError where error.kind == .parameter:
            return .badParameter("query", "contains characters the database cannot store")
        default: return .internalError
        }
    }

    /// The database's schema version: the newest migration applied.
    private static let schemaVersionSQL = "(SELECT coalesce(max(version), 0) FROM schema_migrations)"

    /// How long one statement may run; also how long a request waits for another thread's page.
    public static let statementTimeoutSeconds = 5.0

    private func current() throws -> Connection {
        if let connection, connection.isHealthy {
            // Fell back to the primary while no standby answered, and one answers again: move.
            if let since = onPrimarySince, since != standbyEpoch() {
                self.connection = nil
            } else if checkedAvoidance != avoidanceEpoch(), avoidedServers().contains(connection.server) {
                // Its server lags beyond the bound: leave it for the others (the watcher readmits it).
                self.connection = nil
            } else {
                checkedAvoidance = avoidanceEpoch()
                if !schemaReady { try awaitSchema(connection) }
                return connection
            }
        }
        connection = nil
        schemaReady = false
        let epoch = standbyEpoch()
        checkedAvoidance = avoidanceEpoch()
        let fresh = try Connection(conninfo: conninfo, applicationName: "kasparro-api",
                                   statementTimeoutMS: Int(ReadSession.statementTimeoutSeconds * 1000), genericPlans: true,
                                   overrides: checkedAvoidance == 0 ? [] : ConnectionTarget.overrides(conninfo, excluding: avoidedServers()),
                                   onNotice: logger.databaseNotices)
        // One round trip: the server's role and its schema version.
        let described = try fresh.query("SELECT pg_is_in_recovery() AS standby, \(ReadSession.schemaVersionSQL) AS version").single()
        let standby: Bool = try described.get("standby")
        onPrimarySince = prefersStandby && !standby ? epoch : nil
        connection = fresh
        try awaitSchema(fresh, found: try described.get("version"))
        return fresh
    }

    /// Waits, up to `schemaWaitSeconds`, for the database to have every migration this binary
    /// knows (a standby may replay the migration a moment later); then answers `schemaOutdated`.
    /// Responders carry no code for older schemas: an upgrade migrates before it restarts them.
    private func awaitSchema(_ connection: Connection, found known: Int? = nil) throws {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(schemaWaitSeconds * 1_000_000_000)
        var known = known
        while true {
            let found: Int = try known ?? connection.query("SELECT \(ReadSession.schemaVersionSQL) AS version").single().get("version")
            known = nil
            if found >= Migrations.latest {
                schemaReady = true
                return
            }
            if DispatchTime.now().uptimeNanoseconds >= deadline {
                logger.warning("database schema older than this responder needs; run kasparro-etl migrate", metadata: [
                    "schema_version": "\(found)", "needed_version": "\(Migrations.latest)"])
                throw APIError.schemaOutdated
            }
            usleep(100_000)
        }
    }
}
