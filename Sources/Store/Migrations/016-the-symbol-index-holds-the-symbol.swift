// Migration 16: the symbol index holds the symbol as stored (index-only edge counts). Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v016 = Migration(version: 16, name: "the symbol index holds the symbol as stored (index-only edge counts)", sql: #"""
    -- A symbol filter's total counts the rows at each since/until edge (up to a calendar month
    -- of one ticker: 2,880 rows at the default schedule) through this index. PostgreSQL cannot
    -- answer from an expression index alone (the column under `upper()` is not in it), so
    -- each counted row was a heap visit (612 buffers for 2,288 rows at 30,000,000 rows). With
    -- symbols upper-cased by constraint (migration 15), `symbol` itself is the key: the same
    -- width, and the count reads the index alone. VALIDATE reads every row under SHARE UPDATE
    -- EXCLUSIVE and the index is built on every partition under SHARE (readers go on, the ETL
    -- waits); the old index goes last, under the brief exclusive lock DROP needs.
    ALTER TABLE market_records VALIDATE CONSTRAINT market_records_symbol_upper;
    CREATE INDEX market_records_by_symbol_v16 ON market_records (symbol, observed_at);
    DROP INDEX market_records_by_symbol;
    ALTER INDEX market_records_by_symbol_v16 RENAME TO market_records_by_symbol;
    """#)
}
