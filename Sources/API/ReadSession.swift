// A responder thread's database access: one lazily opened read-only connection that reconnects itself.
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
    /// Which rollup of asset and symbol counts this connection's database has.
    private(set) var fineRollup: FineRollup = .monthly
    /// Whether this connection's database has `asset_aliases` (migration 7).
    private(set) var hasAliases = true
    /// Whether this connection's database keeps `etl_source_totals` (migration 14).
    private(set) var hasSourceTotals = true
    /// Whether standbys are preferred (a multi-host conninfo with `target_session_attrs=prefer-standby`).
    private let prefersStandby: Bool
    /// The watcher's standby epoch: it changes when a standby answers again.
    private let standbyEpoch: () -> Int
    /// The connection is on the primary although standbys are preferred, as of this epoch.
    private var onPrimarySince: Int?

    /// Creates a session for `conninfo` (no connection is made yet). `standbyEpoch` (the version
    /// watcher's) tells a session that fell back to the primary when to try a standby again.
    public init(conninfo: String, logger: Logger, onDatabaseError: @escaping () -> Void = {},
                standbyEpoch: @escaping () -> Int = { 0 }) {
        self.conninfo = conninfo
        self.logger = logger
        self.onDatabaseError = onDatabaseError
        self.prefersStandby = ConnectionTarget.movesToStandbys(conninfo)
        self.standbyEpoch = standbyEpoch
    }

    /// Runs `body` with a live connection; connection loss is retried once on a new connection.
    func run<T>(_ body: (Connection) throws -> T) throws(APIError) -> T {
        for attempt in 0..<2 {
            do {
                let live = try current()
                return try body(live)
            } catch let error as DatabaseError where error.sqlState == "42P01" && attempt == 0 {
                // A table this responder reads is gone: the schema was migrated under it (the
                // per-day rollup gives way to the per-month one). Look again, then retry once.
                if let connection, let described = try? ReadSession.describe(connection) {
                    adopt(described)
                }
            } catch let error as DatabaseError where error.isConnectionLoss {
                onDatabaseError()
                connection = nil
                if attempt == 1 {
                    logger.warning("database unavailable", metadata: ["error": "\(error.debugDescription)"])
                    throw .databaseUnavailable
                }
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

    /// How long one statement may run; also how long a request waits for another thread's page.
    public static let statementTimeoutSeconds = 5.0

    private func current() throws(DatabaseError) -> Connection {
        if let connection, connection.isHealthy {
            // Fell back to the primary while no standby answered, and one answers again: move.
            guard let since = onPrimarySince, since != standbyEpoch() else { return connection }
        }
        connection = nil
        let epoch = standbyEpoch()
        let fresh = try Connection(conninfo: conninfo, applicationName: "kasparro-api",
                                   statementTimeoutMS: Int(ReadSession.statementTimeoutSeconds * 1000),
                                   genericPlans: true, onNotice: logger.databaseNotices)
        let described = try ReadSession.describe(fresh)
        adopt(described)
        onPrimarySince = prefersStandby && !described.standby ? epoch : nil
        connection = fresh
        return fresh
    }

    /// What the connection's database has: a responder upgraded ahead of a migration keeps
    /// answering from what is there.
    private struct Described {
        var rollup: FineRollup
        var standby: Bool
        var aliases: Bool
        var sourceTotals: Bool
    }

    /// Whether `connection`'s database keeps `etl_source_totals` (migration 14). Until it does,
    /// each call looks again (one catalog lookup), so the responders move to it as soon as the
    /// ETL's next start has migrated, without a reconnect.
    func hasSourceTotals(_ connection: Connection) -> Bool {
        if !hasSourceTotals, let described = try? ReadSession.describe(connection) { adopt(described) }
        return hasSourceTotals
    }

    private func adopt(_ described: Described) {
        fineRollup = described.rollup
        hasAliases = described.aliases
        hasSourceTotals = described.sourceTotals
    }

    /// The rollup the connection's database has, whether it is a standby, whether it has asset
    /// aliases (migration 7) and each source's totals (migration 14).
    private static func describe(_ connection: Connection) throws(DatabaseError) -> Described {
        let row = try connection.query("""
            SELECT to_regclass('market_counts_monthly') IS NOT NULL OR to_regclass('market_counts_daily') IS NULL AS monthly,
                   pg_is_in_recovery() AS standby, to_regclass('asset_aliases') IS NOT NULL AS aliases,
                   to_regclass('etl_source_totals') IS NOT NULL AS totals
            """).single()
        let monthly: Bool = try row.get("monthly")
        return Described(rollup: monthly ? .monthly : .daily, standby: try row.get("standby"),
                         aliases: try row.get("aliases"), sourceTotals: try row.get("totals"))
    }
}
