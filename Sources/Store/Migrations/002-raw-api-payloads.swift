// Migration 2: raw API payloads. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v002 = Migration(version: 2, name: "raw API payloads", sql: #"""
    -- One row per distinct version of a source record: an unchanged record stores nothing new.
    CREATE TABLE raw_coinpaprika (
      source_id   text NOT NULL,
      sha256      bytea NOT NULL,
      payload     jsonb NOT NULL,
      run_id      bigint NOT NULL REFERENCES etl_runs,
      fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (source_id, sha256)
    );
    CREATE TABLE raw_coingecko (
      source_id   text NOT NULL,
      sha256      bytea NOT NULL,
      payload     jsonb NOT NULL,
      run_id      bigint NOT NULL REFERENCES etl_runs,
      fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (source_id, sha256)
    );
    """#)
}
