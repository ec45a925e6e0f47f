// Migration 1: core schema. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v001 = Migration(version: 1, name: "core schema", sql: #"""
    -- Everything the API reads is readable by the API role; it can write nothing.
    DO $grant$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasparro_api') THEN
        GRANT USAGE ON SCHEMA public TO kasparro_api;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO kasparro_api;
      END IF;
    END $grant$;

    CREATE TABLE assets (
      asset_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      symbol      text NOT NULL,
      name        text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX assets_symbol ON assets (symbol);

    -- Every (source, source_id) maps to one asset, with how and how surely it was matched.
    CREATE TABLE asset_sources (
      source            text NOT NULL CHECK (source IN ('coinpaprika', 'coingecko', 'csv')),
      source_id         text NOT NULL,
      asset_id          bigint NOT NULL REFERENCES assets,
      symbol            text NOT NULL,
      name              text NOT NULL,
      match_method      text NOT NULL,
      match_confidence  numeric(4,3) NOT NULL CHECK (match_confidence BETWEEN 0 AND 1),
      created_at        timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source, source_id)
    );
    CREATE INDEX asset_sources_asset ON asset_sources (asset_id);

    CREATE TABLE etl_runs (
      run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      invocation_id  uuid NOT NULL,
      source         text NOT NULL CHECK (source IN ('coinpaprika', 'coingecko', 'csv')),
      trigger        text NOT NULL,
      status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
      finished_at    timestamptz,
      fetched        integer NOT NULL DEFAULT 0,
      inserted       integer NOT NULL DEFAULT 0,
      updated        integer NOT NULL DEFAULT 0,
      unchanged      integer NOT NULL DEFAULT 0,
      quarantined    integer NOT NULL DEFAULT 0,
      error          text
    );
    CREATE INDEX etl_runs_source_started ON etl_runs (source, run_id DESC);

    -- Unified market records: NUMERIC so nothing is rounded; one row per observation.
    CREATE TABLE market_records (
      source          text NOT NULL CHECK (source IN ('coinpaprika', 'coingecko', 'csv')),
      source_id       text NOT NULL,
      observed_at     timestamptz NOT NULL,
      asset_id        bigint NOT NULL REFERENCES assets,
      symbol          text NOT NULL,
      name            text NOT NULL,
      price_usd       numeric,
      market_cap_usd  numeric,
      volume_24h_usd  numeric,
      rank            integer,
      run_id          bigint NOT NULL REFERENCES etl_runs,
      ingested_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (source, source_id, observed_at),
      FOREIGN KEY (source, source_id) REFERENCES asset_sources
    );
    -- The API's total order, and its filters.
    CREATE INDEX market_records_order ON market_records (observed_at DESC, source, source_id);
    CREATE INDEX market_records_symbol ON market_records (upper(symbol), observed_at DESC, source, source_id);
    CREATE INDEX market_records_asset ON market_records (asset_id, observed_at DESC, source, source_id);
    CREATE INDEX market_records_source ON market_records (source, observed_at DESC, source_id);

    -- Raw CSV lines as read, with their hash; a line already stored is not stored again.
    CREATE TABLE raw_csv (
      stream      text NOT NULL,
      line_no     bigint NOT NULL,
      line        text NOT NULL,
      sha256      bytea NOT NULL,
      run_id      bigint NOT NULL REFERENCES etl_runs,
      fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (stream, line_no)
    );

    -- Where each source's stream stopped; committed with the data it covers.
    CREATE TABLE etl_checkpoints (
      source      text NOT NULL CHECK (source IN ('coinpaprika', 'coingecko', 'csv')),
      stream      text NOT NULL,
      position    bigint NOT NULL,
      line_no     bigint NOT NULL DEFAULT 0,
      detail      jsonb NOT NULL DEFAULT '{}',
      run_id      bigint REFERENCES etl_runs,
      updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (source, stream)
    );

    -- Records that failed validation, kept with their reason: never dropped.
    CREATE TABLE quarantine (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      source      text NOT NULL,
      stream      text NOT NULL,
      locator     text NOT NULL,
      raw         text NOT NULL,
      reason      text NOT NULL,
      run_id      bigint NOT NULL REFERENCES etl_runs,
      created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (source, stream, locator)
    );

    CREATE TABLE schema_drift_events (
      id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      source         text NOT NULL,
      run_id         bigint NOT NULL REFERENCES etl_runs,
      field          text NOT NULL,
      kind           text NOT NULL CHECK (kind IN ('added', 'removed', 'type_changed', 'renamed')),
      matched_field  text,
      confidence     numeric(4,3),
      sample         text,
      created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
    );

    -- RFC 3339 in UTC, with microseconds only when there are any; used by every API response.
    CREATE FUNCTION rfc3339(ts timestamptz) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN date_trunc('second', ts) = ts
                  THEN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                  ELSE to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
    $fn$;

    -- Advanced by every ETL commit that changes served data; readers cache against it.
    CREATE TABLE data_version (
      singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      version     bigint NOT NULL,
      changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    INSERT INTO data_version (version) VALUES (0);
    """#)
}
