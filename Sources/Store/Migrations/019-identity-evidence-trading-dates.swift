// Migration 19: identity evidence: the dates a source gives for a coin's trading. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v019 = Migration(version: 19, name: "identity evidence: trading dates", sql: #"""
    -- Each mapping keeps the dates its source gave when it was made: CoinPaprika's first_data_at,
    -- CoinGecko's all-time high and low dates. A coin whose whole price history is a few weeks,
    -- years after another coin of its name began, is a later coin (evidence that holds when the
    -- coin lists cannot be fetched). Expand-only: nullable columns, no rewrite.
    ALTER TABLE asset_sources
      ADD COLUMN first_data_at timestamptz, ADD COLUMN ath_at timestamptz, ADD COLUMN atl_at timestamptz;
    """#)
}
