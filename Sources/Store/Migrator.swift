// Applies the pending migrations in order, each in one transaction, under an advisory lock.
import Foundation

/// Applies pending migrations.
///
/// A migration never queues for its locks behind a long reader (a `pg_dump`, the documented
/// backup) while every new API read queues behind it: each attempt first takes the strongest lock
/// of every table the migration changes, with a short `lock_timeout` that also bounds every later
/// lock of the transaction, so a timeout comes before any work is done. On a timeout the
/// transaction rolls back, readers go on, and the migrator tries again after a growing pause, up
/// to `maxWaitSeconds`. The released SQL is never changed for this.
public struct Migrator {
    private let connection: Connection
    /// How long one attempt waits for a lock (readers behind it wait at most as long).
    public var lockTimeoutMS = 300
    /// How long, in all, the migrator keeps trying before it gives up.
    public var maxWaitSeconds = 600.0
    /// Told of each attempt that timed out: the migration's version and the pause before the next.
    public var onLockTimeout: (Int, Double) -> Void = { _, _ in }

    /// Uses `connection`, which must be allowed to create tables (the ETL role).
    public init(connection: Connection) { self.connection = connection }

    /// Applies every migration newer than the database's, in order, each in one transaction,
    /// under an advisory lock so two migrators never race. Returns the versions applied.
    @discardableResult
    public func migrate(_ migrations: [Migration] = Migrations.all) throws -> [Int] {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
              version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        try connection.query("SELECT pg_advisory_lock(7461001)")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(7461001)") }
        let current = try currentVersion()
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            try apply(migration)
            applied.append(migration.version)
        }
        return applied
    }

    private func apply(_ migration: Migration) throws {
        let started = Date()
        var pause = 0.5
        while true {
            do {
                try connection.transaction {
                    try connection.execute("SET LOCAL lock_timeout = '\(lockTimeoutMS)ms'")
                    for (table, mode) in try existing(Migrator.locks(of: migration.sql)) {
                        try connection.execute("LOCK TABLE \(table) IN \(mode) MODE")
                    }
                    try connection.execute(migration.sql)
                    try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                         [String(migration.version), migration.name])
                }
                return
            } catch let error as DatabaseError where error.sqlState == SQLState.lockNotAvailable {
                guard Date().timeIntervalSince(started) + pause <= maxWaitSeconds else {
                    throw DatabaseError(.statement, sqlState: SQLState.lockNotAvailable, detail:
                        "migration \(migration.version) could not take its locks in \(Int(maxWaitSeconds)) s: a long "
                        + "transaction holds them (see pg_stat_activity); nothing of it was applied")
                }
                onLockTimeout(migration.version, pause)
                Thread.sleep(forTimeInterval: pause)
                pause = min(pause * 2, 15)
            }
        }
    }

    /// The tables of `names` that exist already (a migration may create a table and then change it).
    private func existing(_ locks: [(table: String, mode: String)]) throws -> [(table: String, mode: String)] {
        try locks.filter { lock in
            try connection.query("SELECT to_regclass($1) IS NOT NULL AS found", [lock.table]).single().get("found", as: Bool.self)
        }
    }

    /// The tables a migration's SQL changes, each with the strongest lock it takes on them, in the
    /// order they first appear: ACCESS EXCLUSIVE for ALTER, DROP, TRUNCATE and RENAME, SHARE ROW
    /// EXCLUSIVE for a trigger, SHARE for an index.
    static func locks(of sql: String) -> [(table: String, mode: String)] {
        let name = #"((?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*)"#
        let patterns: [(String, Int)] = [
            (#"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?"# + name, 3),
            (#"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?"# + name, 3),
            (#"\bTRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?"# + name, 3),
            (#"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+\S+\s+.*?\bON\s+"# + name, 2),
            (#"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\S+\s+)?ON\s+(?:ONLY\s+)?"# + name, 1),
        ]
        let modes = [1: "SHARE", 2: "SHARE ROW EXCLUSIVE", 3: "ACCESS EXCLUSIVE"]
        var strength: [String: Int] = [:]
        var first: [String: Int] = [:]
        // Comments and string literals (function bodies) name no table the migration itself changes.
        let code = sql.replacingOccurrences(of: #"--[^\n]*"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #"\$([a-z_]*)\$[\s\S]*?\$\1\$"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #"'(?:[^']|'')*'"#, with: "''", options: .regularExpression)
        for (pattern, level) in patterns {
            guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive, .dotMatchesLineSeparators]) else { continue }
            for match in regex.matches(in: code, range: NSRange(code.startIndex..., in: code)) {
                guard let range = Range(match.range(at: 1), in: code) else { continue }
                let table = code[range].lowercased()
                if ["if", "only", "table"].contains(table) { continue }
                first[table] = min(first[table] ?? Int.max, match.range.location)
                strength[table] = max(strength[table] ?? 0, level)
            }
        }
        return first.sorted { $0.value < $1.value }.map { (table: $0.key, mode: modes[strength[$0.key]!]!) }
    }

    /// The newest applied version, 0 for an empty database.
    public func currentVersion() throws -> Int {
        try connection.query("SELECT coalesce(max(version), 0) AS version FROM schema_migrations").single().get("version")
    }
}
