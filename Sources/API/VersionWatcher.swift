// What a responder knows of the database's data version without asking on every request:
// one listening connection per process (LISTEN/NOTIFY), with a heartbeat that bounds how long
// that knowledge is trusted.
import Dispatch
import Foundation
import Glibc
import Logging
import Store
import Synchronization

/// Follows `data_version` for the whole responder process.
///
/// Every writer bumps `data_version`, and a trigger announces each new version with `NOTIFY` on
/// `kasparro_data_version` (migration 6); PostgreSQL delivers it when the writing transaction
/// commits. One thread per process holds a connection that `LISTEN`s there, so a cached page can be
/// served without any database round trip.
///
/// The knowledge is trusted only while the listener is known to be alive: each heartbeat (a plain
/// `SELECT version`, every `heartbeat`) extends the trust to the heartbeat's send time plus
/// `heartbeat + grace`. A terminated or broken listener ends the trust at once (the socket turns
/// readable and reading fails); a silently lost one when its trust runs out. Without trust,
/// `trustedVersion()` is nil and requests ask the database themselves, as before this existed.
///
/// On a hot standby `LISTEN` is not allowed (and a notification from the primary could arrive
/// before the standby replayed the commit): there the thread polls its own database's version
/// every `standbyPoll` instead, and the trust is bounded by that interval.
///
/// The same poll measures the standby's replay lag (as /health does: the time since its last
/// replayed commit while received WAL waits, no longer than the poll has seen it waiting). Beyond
/// `maxLagSeconds` the server is avoided: the thread and every session leave it for the other
/// servers of the conninfo (the next standby, else the primary), so what a responder serves is
/// never more than that far behind the primary. Every `standbyProbe` the thread asks each avoided
/// server again and readmits it once its lag is back within the bound.
public final class VersionWatcher: Sendable {
    /// The NOTIFY channel the trigger announces versions on.
    public static let channel = "kasparro_data_version"

    private let conninfo: String
    private let logger: Logger
    private let heartbeatNanos: UInt64
    private let graceNanos: UInt64
    private let standbyPollNanos: UInt64
    private let known = Atomic<Int64>(-1)
    private let trustedUntil = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    private let onRegression: @Sendable () -> Void
    private let onConnect: @Sendable () -> Void
    private let prefersStandby: Bool
    private let standbyProbeNanos: UInt64
    private let epoch = Atomic<Int>(0)
    private let timelineID = Atomic<Int64>(0)
    private let maxLagSeconds: Double
    private let avoided = Mutex<Set<String>>([])
    private let avoidedEpoch = Atomic<Int>(0)

    /// A standby left behind for its lag.
    private struct Lagging: Error {}

    /// Creates a watcher (nothing runs until `start`). `onRegression` is called when the version
    /// goes backwards (the database was restored from a backup): cached pages must be dropped.
    public init(conninfo: String, logger: Logger, heartbeat: Double = 0.5, grace: Double = 0.5,
                standbyPoll: Double = 0.02, standbyProbe: Double = 5, maxLagSeconds: Double = 60,
                onRegression: @escaping @Sendable () -> Void = {}, onConnect: @escaping @Sendable () -> Void = {}) {
        self.conninfo = conninfo
        self.logger = logger
        self.heartbeatNanos = UInt64(heartbeat * 1e9)
        self.graceNanos = UInt64(grace * 1e9)
        self.standbyPollNanos = UInt64(standbyPoll * 1e9)
        self.onRegression = onRegression
        self.onConnect = onConnect
        self.prefersStandby = ConnectionTarget.movesToStandbys(conninfo)
        self.standbyProbeNanos = UInt64(standbyProbe * 1e9)
        self.maxLagSeconds = maxLagSeconds
    }

    /// Changes whenever the set of avoided servers does (one atomic load: sessions check it per request).
    public var avoidanceEpoch: Int { avoidedEpoch.load(ordering: .acquiring) }

    /// The servers (`Connection.server` keys) avoided for their replay lag.
    public var avoidedServers: Set<String> { avoided.withLock { $0 } }

    private func avoid(_ server: String, lag: Double) {
        guard avoided.withLock({ $0.insert(server).inserted }) else { return }
        avoidedEpoch.add(1, ordering: .releasing)
        logger.warning("standby lags beyond REPLICA_MAX_LAG_SECONDS: reading from the other servers until it catches up",
                       metadata: ["lag_s": "\(String(format: "%.1f", lag))", "max_lag_s": "\(maxLagSeconds)"])
    }

    /// Asks each avoided server for its lag; readmits those back within the bound.
    private func probeAvoided() {
        for server in avoidedServers {
            // The conninfo without every other server: this one alone.
            let others = Set((ConnectionTarget(conninfo)?.servers ?? []).map { ConnectionTarget.key(host: $0.host, port: $0.port) })
                .subtracting([server])
            guard let found = try? Connection(
                conninfo: conninfo, applicationName: "kasparro-api-version", statementTimeoutMS: 1000,
                overrides: ConnectionTarget.overrides(conninfo, excluding: others) + [("target_session_attrs", "any"), ("connect_timeout", "1")]),
                let row = try? found.query(VersionWatcher.lagSQL).single(),
                let unreplayed: Int64 = try? row.get("unreplayed")
            else { continue }
            let sinceReplay: Double?  // NULL on a standby that has replayed nothing yet
            do { sinceReplay = try row.optional("since_replay") } catch { continue }
            if unreplayed == 0 || (sinceReplay ?? 0) <= maxLagSeconds {
                avoided.withLock { _ = $0.remove(server) }
                avoidedEpoch.add(1, ordering: .releasing)
                epoch.add(1, ordering: .releasing)  // sessions on the primary look for a standby again
                logger.info("standby caught up: reading from it again", metadata: ["unreplayed_bytes": "\(unreplayed)"])
            }
        }
    }

    /// The newest data version, when the watcher is sure it is current; nil when it is not (the
    /// listener is down or its trust ran out): then the caller must ask the database.
    public func trustedVersion() -> Int64? {
        guard DispatchTime.now().uptimeNanoseconds < trustedUntil.load(ordering: .acquiring) else { return nil }
        return known.load(ordering: .acquiring)
    }

    /// The database's timeline (`pg_control_checkpoint()`), read at each connection; 0 before the
    /// first. A failover that lost commits repeats versions on a new timeline, so validators carry it.
    public var timeline: Int64 { timelineID.load(ordering: .acquiring) }

    /// Counts the watcher's moves onto a standby. A thread whose session is on the primary although
    /// standbys are preferred reconnects when this changes (a standby came back).
    public var standbyEpoch: Int { epoch.load(ordering: .acquiring) }

    /// Starts the watching thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "version-watcher"
        thread.start()
    }

    /// Stops the thread at its next wake-up (within a heartbeat).
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func distrust() {
        trustedUntil.store(0, ordering: .releasing)
    }

    /// A version read by a full query (not a notification): exact, so a lower one than known is a
    /// regression rather than an old message.
    private func read(_ version: Int64, sentAt: UInt64, window: UInt64) {
        let previous = known.exchange(version, ordering: .acquiringAndReleasing)
        if version < previous {
            logger.warning("data version went backwards (moved to a lagging standby, or the database was restored): dropping cached pages",
                           metadata: ["was": "\(previous)", "now": "\(version)"])
            onRegression()
        }
        trustedUntil.store(sentAt + window, ordering: .releasing)
    }

    private func run() {
        var backoff: UInt64 = 50_000_000
        var failing = false
        var next: Connection?
        while !stopped.load(ordering: .relaxed) {
            do {
                let handedOver = next
                next = nil
                next = try watch(handedOver, onConnected: {
                    if failing { logger.info("version listener connected again") }
                    failing = false
                    backoff = 50_000_000
                })
            } catch is Lagging {
                distrust()  // the next server's first read trusts again
            } catch {
                distrust()
                if !failing {
                    logger.warning("version listener lost; requests check the version themselves until it is back",
                                   metadata: ["error": "\((error as? DatabaseError)?.debugDescription ?? "\(error)")"])
                }
                failing = true
                usleep(UInt32(backoff / 1000))
                backoff = min(backoff * 2, 1_000_000_000)
            }
        }
        distrust()
    }

    private static let versionSQL = "SELECT version, pg_is_in_recovery() AS standby FROM data_version"
    /// A standby's version, with what /health's lag is made of.
    private static let standbyVersionSQL = """
        SELECT version, pg_is_in_recovery() AS standby,
               coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint AS unreplayed,
               extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS since_replay
        FROM data_version
        """
    private static let lagSQL = """
        SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint AS unreplayed,
               extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS since_replay
        """

    /// One connection's life: returns when stopped (nil) or with a standby's connection to move to
    /// (standbys preferred, this one on the primary); throws when the connection fails.
    private func watch(_ handedOver: Connection?, onConnected: () -> Void) throws -> Connection? {
        let connection = try handedOver
            ?? Connection(conninfo: conninfo, applicationName: "kasparro-api-version", statementTimeoutMS: 2000,
                          overrides: ConnectionTarget.overrides(conninfo, excluding: avoidedServers))
        let first = DispatchTime.now().uptimeNanoseconds
        let described = try connection.query(
            "SELECT pg_is_in_recovery() AS standby, (SELECT timeline_id FROM pg_control_checkpoint())::bigint AS timeline").single()
        let standby: Bool = try described.get("standby")
        let timeline: Int64 = try described.get("timeline")
        let previous = timelineID.exchange(timeline, ordering: .acquiringAndReleasing)
        if previous != 0 && previous != timeline {
            logger.warning("the database is on another timeline (a failover): dropping cached pages",
                           metadata: ["was": "\(previous)", "now": "\(timeline)"])
            onRegression()
        }
        // LISTEN before the first read: a commit between the two is then either read or announced.
        if !standby { try connection.execute("LISTEN \(VersionWatcher.channel)") }
        let interval = standby ? standbyPollNanos : heartbeatNanos
        let window = standby ? 2 * standbyPollNanos : heartbeatNanos + graceNanos
        var waitingSince: UInt64?  // when this thread first saw received WAL waiting for replay
        try heartbeat(connection, standby: standby, sentAt: first, window: window, waitingSince: &waitingSince)
        if standby { epoch.add(1, ordering: .releasing) }
        onConnect()
        onConnected()
        var next = first + interval
        var probe = first + standbyProbeNanos
        while !stopped.load(ordering: .relaxed) {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= next {
                try heartbeat(connection, standby: standby, sentAt: now, window: window, waitingSince: &waitingSince)
                next = now + interval
                continue
            }
            if now >= probe {
                probe = now + standbyProbeNanos
                if !avoidedServers.isEmpty { probeAvoided() }
                // On the primary only because no standby answered (or every one lags): is one
                // back? Move there if so (the trust stays until the standby's own first read
                // replaces it).
                if !standby && prefersStandby,
                   let found = try? Connection(conninfo: conninfo, applicationName: "kasparro-api-version", statementTimeoutMS: 2000,
                                               overrides: [("target_session_attrs", "standby"), ("connect_timeout", "1")]
                                                   + ConnectionTarget.overrides(conninfo, excluding: avoidedServers)) {
                    logger.info("a standby answers again: moving the version listener there")
                    return found
                }
                continue
            }
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32((next - now + 999_999) / 1_000_000))
            if ready < 0 && errno != EINTR { throw DatabaseError(.connection, detail: "poll: \(String(cString: strerror(errno)))") }
            if ready > 0 {
                try connection.consumeInput()
                apply(connection.notifications())
            }
        }
        return nil
    }

    private func heartbeat(_ connection: Connection, standby expected: Bool, sentAt: UInt64, window: UInt64,
                           waitingSince: inout UInt64?) throws {
        let row = try connection.query(expected ? VersionWatcher.standbyVersionSQL : VersionWatcher.versionSQL).single()
        let standby: Bool = try row.get("standby")
        // A server promoted (or demoted) under the connection: start over in the right mode.
        if standby != expected {
            throw DatabaseError(.connection, detail: "server role changed (pg_is_in_recovery = \(standby))")
        }
        if standby {
            let unreplayed: Int64 = try row.get("unreplayed")
            if unreplayed > 0 {
                let since = waitingSince ?? sentAt
                waitingSince = since
                let lag = min(try row.optional("since_replay") ?? .infinity, Double(sentAt - since) / 1e9)
                if lag > maxLagSeconds && prefersStandby {
                    avoid(connection.server, lag: lag)
                    throw Lagging()
                }
            } else {
                waitingSince = nil
            }
        }
        read(try row.get("version"), sentAt: sentAt, window: window)
        // Notifications that arrived with the answer may name a commit made while it ran.
        apply(connection.notifications())
    }

    private func apply(_ notifications: [(channel: String, payload: String)]) {
        for notification in notifications where notification.channel == VersionWatcher.channel {
            // Notifications only raise the version: an older one is a late message.
            if let version = Int64(notification.payload) { _ = known.max(version, ordering: .acquiringAndReleasing) }
        }
    }
}
