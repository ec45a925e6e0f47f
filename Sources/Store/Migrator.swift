// Applies the pending migrations in order, each in one transaction, under an advisory lock.
/// Applies pending migrations.
public struct Migrator {
    private let connection: Connection

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
            try connection.transaction {
                try connection.execute(migration.sql)
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                     [String(migration.version), migration.name])
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The newest applied version, 0 for an empty database.
    public func currentVersion() throws -> Int {
        try connection.query("SELECT coalesce(max(version), 0) AS version FROM schema_migrations").single().get("version")
    }
}
