// Migration 10: checkpoints by recency. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v010 = Migration(version: 10, name: "checkpoints by recency", sql: #"""
    -- /stats lists each source's most recently moved streams.
    CREATE INDEX etl_checkpoints_recent ON etl_checkpoints (source, updated_at DESC, stream);
    """#)
}
