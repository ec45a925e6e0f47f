// Migration 7: the operator's word on identity: overrides and aliases. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v007 = Migration(version: 7, name: "the operator's word on identity: overrides and aliases", sql: #"""
    -- An operator's merge or split, as it was made: who (an audit hint, not a security boundary),
    -- when, why, and what it moved. Later ETL runs never change an existing mapping.
    CREATE TABLE asset_overrides (
      override_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind         text NOT NULL CHECK (kind IN ('merge', 'split')),
      asset_id     bigint NOT NULL,  -- merge: the asset kept; split: the new asset
      other_id     bigint NOT NULL,  -- merge: the asset merged away (now an alias); split: the asset left
      source       text,             -- split: the mapping moved
      source_id    text,
      rows_moved   bigint NOT NULL,
      operator     text NOT NULL CHECK (operator <> ''),
      reason       text NOT NULL CHECK (btrim(reason) <> ''),
      created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    -- A merged-away asset id keeps answering: /data?asset_id=ALIAS serves its asset's rows.
    CREATE TABLE asset_aliases (
      alias_id    bigint PRIMARY KEY,
      asset_id    bigint NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      CHECK (alias_id <> asset_id)
    );
    CREATE INDEX asset_aliases_asset ON asset_aliases (asset_id);
    """#)
}
