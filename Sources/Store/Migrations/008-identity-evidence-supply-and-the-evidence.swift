// Migration 8: identity evidence: supply and the evidence of each mapping. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v008 = Migration(version: 8, name: "identity evidence: supply and the evidence of each mapping", sql: #"""
    -- What the matcher compared: each mapping's supply figures when it was made (evidence for
    -- later coins) and the evidence, with weights, that tied it to its asset.
    ALTER TABLE asset_sources
      ADD COLUMN max_supply float8, ADD COLUMN total_supply float8, ADD COLUMN circulating_supply float8,
      ADD COLUMN evidence jsonb, ADD COLUMN score float8;
    """#)
}
