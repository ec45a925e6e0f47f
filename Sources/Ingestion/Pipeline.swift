// One ETL invocation: one run row per source, sources isolated from each other's failures.
import Foundation
import Logging
import MarketData
import Store
import Telemetry

/// The outcome of one source's run.
public struct SourceOutcome: Sendable {
    /// The source.
    public let source: Source
    /// Its `etl_runs.run_id`.
    public let runID: Int64
    /// `succeeded` or `failed`.
    public let status: RunStatus
    /// Final counters.
    public let counts: RunCounts
    /// Why it failed.
    public let error: String?
    /// Wall time in seconds.
    public let seconds: Double
}

/// Runs sources against the database, recording each in `etl_runs`.
public final class Pipeline {
    /// Exit status when every source succeeded.
    public static let exitSuccess: Int32 = 0
    /// Exit status when the database or configuration is unusable.
    public static let exitFatal: Int32 = 1
    /// Exit status when at least one source failed (the others' data is committed).
    public static let exitPartial: Int32 = 2
    /// Exit status when another ETL invocation holds the lock (EX_TEMPFAIL).
    public static let exitBusy: Int32 = 75

    private let config: ETLConfig
    private let connection: Connection
    private let logger: Logger
    private let invocationID = UUID().uuidString.lowercased()

    /// Connects with the writer role.
    public init(config: ETLConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        self.connection = try Connection(conninfo: config.databaseURL, applicationName: "kasparro-etl",
                                         overrides: ETLConnection.overrides, onNotice: logger.databaseNotices)
    }

    /// The connection, for `migrate` and `status`.
    public var database: Connection { connection }

    /// Whether this invocation holds the invocation lock now. It is a session lock: a lost
    /// connection loses it, and the session that replaces it must take it again (`ensureSession`).
    public private(set) var holdsLock = false

    /// Takes the invocation lock; false when another ETL is running. Runs left `running` by a
    /// killed invocation are marked failed, since nobody else can be running them.
    public func lock() throws -> Bool {
        guard try InvocationLock.take(connection) else { return false }
        holdsLock = true
        let orphans = try connection.query("""
            UPDATE etl_runs SET status = 'failed', finished_at = clock_timestamp(),
              error = 'interrupted: the ETL process ended before finishing this run'
            WHERE status = 'running'
            """).affectedRows
        if orphans > 0 { logger.warning("marked interrupted runs as failed", metadata: ["runs": "\(orphans)"]) }
        return true
    }

    /// Runs each source in turn; a failing source is recorded and the next one still runs. Once
    /// the invocation lock is lost (a reconnected session found another invocation holding it),
    /// nothing more runs: what is left is that invocation's.
    public func run(sources: [Source]) -> [SourceOutcome] {
        var outcomes: [SourceOutcome] = []
        for source in sources where holdsLock {
            outcomes.append(runOne(source))
        }
        return outcomes
    }

    /// A live session that holds the invocation lock: after a lost connection, a new session takes
    /// the lock again before anything is written. False when another invocation holds it now.
    public func ensureSession() throws -> Bool {
        guard !connection.isHealthy else { return holdsLock }
        try connection.reconnect()
        holdsLock = try InvocationLock.take(connection)
        if holdsLock {
            logger.warning("reconnected to the database and took the invocation lock again")
        } else {
            logger.error("reconnected to the database, but another ETL invocation holds the lock now: this one stops")
        }
        return holdsLock
    }

    private func runOne(_ source: Source) -> SourceOutcome {
        let started = Date()
        var log = logger
        log[metadataKey: "source"] = "\(source.rawValue)"
        let runID: Int64
        do {
            guard try ensureSession() else {
                return SourceOutcome(source: source, runID: 0, status: .failed, counts: RunCounts(),
                                     error: "lost the invocation lock", seconds: Date().timeIntervalSince(started))
            }
            runID = try connection.query("""
                INSERT INTO etl_runs (invocation_id, source, trigger, status) VALUES ($1, $2, $3, 'running')
                RETURNING run_id
                """, [invocationID, source.rawValue, config.trigger]).single().get("run_id")
        } catch {
            log.error("cannot record run start", metadata: ["error": "\(String(reflecting: error))"])
            return SourceOutcome(source: source, runID: 0, status: .failed, counts: RunCounts(),
                                 error: "database unavailable", seconds: Date().timeIntervalSince(started))
        }
        log[metadataKey: "run_id"] = "\(runID)"
        log.info("source run started", metadata: ["trigger": "\(config.trigger)", "invocation_id": "\(invocationID)"])
        var context: RunContext?
        var failure: String?
        do {
            let ctx = try RunContext(source: source, runID: runID, connection: connection, logger: log,
                                     failAfter: config.failAfter, now: Timestamp.now())
            context = ctx
            ctx.pauseBeforeCommitMS = config.pauseBeforeCommitMS
            ctx.progress = Progress.ifTerminal(source)
            defer { ctx.progress?.finish() }
            switch source {
            case .csv: try CSVIngest(directory: config.csvDirectory, batchSize: config.batchSize).run(ctx)
            case .coinpaprika:
                try APIIngest(source: .coinpaprika, config: config.coinpaprika, maxPages: 1, batchSize: config.batchSize,
                              driftThreshold: config.driftRenameThreshold, coinLists: config.coinLists).run(ctx)
            case .coingecko:
                try APIIngest(source: .coingecko, config: config.coingecko, maxPages: config.coingeckoMaxPages,
                              batchSize: config.batchSize, driftThreshold: config.driftRenameThreshold,
                              coinLists: config.coinLists).run(ctx)
            }
        } catch let error as DatabaseError {
            let state = error.sqlState ?? "unknown"
            failure = error.isConnectionLoss ? "database unavailable"
                : "database error \(state)" + (SQLState.explanation(state).map { ": " + $0 } ?? "")
            log.error("source run failed", metadata: ["error": "\(error.debugDescription)"])
        } catch {
            failure = "\(error)"
            log.error("source run failed", metadata: ["error": "\(error)"])
        }
        let counts = context?.counts ?? RunCounts()
        let status: RunStatus = failure == nil ? .succeeded : .failed
        do {
            // Written only while holding the lock: an invocation that took it over has already
            // marked this run failed (interrupted), and this one must not write after it.
            guard try ensureSession() else {
                return SourceOutcome(source: source, runID: runID, status: .failed, counts: counts,
                                     error: "lost the invocation lock", seconds: Date().timeIntervalSince(started))
            }
            try connection.query("""
                UPDATE etl_runs SET status = $2, finished_at = clock_timestamp(), error = $3, fetched = $4,
                  inserted = $5, updated = $6, unchanged = $7, quarantined = $8, retries = $9,
                  rate_limit_wait_seconds = $10
                WHERE run_id = $1
                """, [String(runID), status.rawValue, failure, String(counts.fetched), String(counts.inserted),
                      String(counts.updated), String(counts.unchanged), String(counts.quarantined),
                      String(context?.retries ?? 0), String(context?.rateLimitWaitSeconds ?? 0)])
        } catch {
            log.error("cannot record run end", metadata: ["error": "\(String(reflecting: error))"])
        }
        let seconds = Date().timeIntervalSince(started)
        log.info("source run finished", metadata: [
            "status": "\(status.rawValue)", "fetched": .stringConvertible(counts.fetched),
            "inserted": .stringConvertible(counts.inserted), "updated": .stringConvertible(counts.updated),
            "unchanged": .stringConvertible(counts.unchanged), "quarantined": .stringConvertible(counts.quarantined),
            "duration_s": .stringConvertible((seconds * 1000).rounded() / 1000)])
        return SourceOutcome(source: source, runID: runID, status: status, counts: counts, error: failure, seconds: seconds)
    }
}

extension Timestamp {
    /// The current time.
    public static func now() -> Timestamp {
        Timestamp(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }
}

/// How the ETL connects, whatever its DATABASE_URL says.
public enum ETLConnection {
    /// Only a read-write session (the primary): a multi-host DATABASE_URL listing standbys too, as
    /// the responders' does, still writes to the primary.
    public static let overrides: [(String, String)] = [("target_session_attrs", "read-write")]
}

/// The lock one ETL invocation holds for its whole life (a session-level advisory lock), and that
/// an operator's identity command and `kasparro-etl retention` take too, so none of them runs
/// while another changes the same rows or partitions.
public enum InvocationLock {
    static let key = 7461002

    /// Takes the lock; false when another holder has it.
    public static func take(_ connection: Connection) throws -> Bool {
        try connection.query("SELECT pg_try_advisory_lock($1) AS locked", [String(key)]).single().get("locked", as: Bool.self)
    }

    /// Releases it (also released when the session ends).
    public static func release(_ connection: Connection) {
        _ = try? connection.query("SELECT pg_advisory_unlock($1)", [String(key)])
    }
}
