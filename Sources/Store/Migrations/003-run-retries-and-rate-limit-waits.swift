// Migration 3: run retries and rate-limit waits. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v003 = Migration(version: 3, name: "run retries and rate-limit waits", sql: #"""
    ALTER TABLE etl_runs ADD COLUMN retries integer NOT NULL DEFAULT 0,
                         ADD COLUMN rate_limit_wait_seconds double precision NOT NULL DEFAULT 0;
    """#)
}
