// The role and replay lag of each database a responder's conninfo names, for /health and /metrics.
import Dispatch
import Foundation
import Logging
import Store

/// One connection per server of the conninfo (`host=a,b,c`, in the conninfo's order), each asked
/// whether it is a standby and how far its replay is behind.
///
/// Lag is time, counted only while WAL the standby has received is not yet replayed: zero when
/// replay has caught up (so it does not grow between ETL runs, when nothing is written), else the
/// time since that standby's last replayed commit, but no more than the time since the probe first
/// saw WAL waiting (a standby that was idle for 15 minutes and receives a commit is not 15 minutes
/// behind). Used by one thread at a time (`/health`'s one-second cache); a lock guards the rest.
final class DatabaseProbes: @unchecked Sendable {
    /// What one probe found.
    struct Finding: Sendable {
        /// `host:port` as the conninfo names it (for /metrics, never /health).
        let server: String
        /// `primary`, `standby`, or nil when the server did not answer.
        let role: String?
        let lagSeconds: Double
        let unreplayedBytes: Int64
        let replayPaused: Bool
    }

    private let conninfo: String
    private let servers: [(host: String, port: String)]
    private let lock = NSLock()
    private var connections: [Connection?]
    private var pendingSince: [UInt64?]

    init(conninfo: String) {
        self.conninfo = conninfo
        self.servers = ConnectionTarget(conninfo)?.servers ?? [("", "")]
        self.connections = Array(repeating: nil, count: servers.count)
        self.pendingSince = Array(repeating: nil, count: servers.count)
    }

    static let sql = """
        SELECT pg_is_in_recovery() AS standby,
               CASE WHEN pg_is_in_recovery()
                    THEN coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) ELSE 0 END::bigint AS unreplayed,
               CASE WHEN pg_is_in_recovery()
                    THEN extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END::float8 AS since_replay,
               CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused
        """

    /// Asks every server (each within a second); a server that does not answer has no role.
    func probe() -> [Finding] {
        lock.lock()
        defer { lock.unlock() }
        return servers.indices.map(probe)
    }

    private func probe(_ index: Int) -> Finding {
        let server = servers[index]
        let name = "\(server.host):\(server.port)"
        do {
            if connections[index]?.isHealthy != true {
                connections[index] = nil
                var overrides: [(String, String)] = [("target_session_attrs", "any"), ("connect_timeout", "1")]
                if !server.host.isEmpty { overrides.append(("host", server.host)) }
                if !server.port.isEmpty { overrides.append(("port", server.port)) }
                connections[index] = try Connection(conninfo: conninfo, applicationName: "kasparro-api-health",
                                                    statementTimeoutMS: 1000, overrides: overrides)
            }
            let row = try connections[index]!.query(DatabaseProbes.sql).single()
            let standby: Bool = try row.get("standby")
            let unreplayed: Int64 = try row.get("unreplayed")
            let sinceReplay: Double? = try row.optional("since_replay")
            var lag = 0.0
            let now = DispatchTime.now().uptimeNanoseconds
            if standby && unreplayed > 0 {
                let since = pendingSince[index] ?? now
                pendingSince[index] = since
                lag = min(sinceReplay ?? .infinity, Double(now - since) / 1e9)
            } else {
                pendingSince[index] = nil
            }
            return Finding(server: name, role: standby ? "standby" : "primary", lagSeconds: max(0, lag),
                           unreplayedBytes: unreplayed, replayPaused: try row.get("paused"))
        } catch {
            connections[index] = nil
            pendingSince[index] = nil
            return Finding(server: name, role: nil, lagSeconds: 0, unreplayedBytes: 0, replayPaused: false)
        }
    }
}
