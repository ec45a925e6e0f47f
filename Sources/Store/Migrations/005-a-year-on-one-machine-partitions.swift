// Migration 5: a year on one machine: partitions, compact indexes, raw snapshots. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    /// Moves an existing database into the partitioned layout in place, in one transaction: the
    /// old `market_records` stays readable while the rows are copied (SHARE blocks writers only)
    /// and the new table takes its name at the very end. It needs about the new layout's size in
    /// free disk (≈ 300 bytes per record) plus the WAL of the copy.
    static let v005 = Migration(version: 5, name: "a year on one machine: partitions, compact indexes, raw snapshots", sql: #"""
    LOCK TABLE market_records IN SHARE MODE;

    -- Creates the partition of `parent` that holds `ts`, unless one exists: a month
    -- (`<prefix>_mYYYYMM`), or a whole year (`<prefix>_yYYYY`) when the year ended before
    -- `yearly_before` and no month of it has a partition yet, so a long history stays a few
    -- partitions. Created standalone and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on
    -- the parent, which neither readers nor writers wait for (CREATE ... PARTITION OF would
    -- take ACCESS EXCLUSIVE). Returns the partition's name.
    CREATE FUNCTION kasparro_ensure_partition(parent regclass, prefix text, ts timestamptz, yearly_before timestamptz)
    RETURNS text LANGUAGE plpgsql AS $fn$
    DECLARE
      utc timestamp := ts AT TIME ZONE 'UTC';
      year_name text := prefix || '_y' || to_char(utc, 'YYYY');
      month_name text := prefix || '_m' || to_char(utc, 'YYYYMM');
      chosen text;
      lo timestamp;
      hi timestamp;
    BEGIN
      IF to_regclass(year_name) IS NOT NULL THEN RETURN year_name; END IF;
      IF to_regclass(month_name) IS NOT NULL THEN RETURN month_name; END IF;
      PERFORM pg_advisory_xact_lock(7461003);
      IF to_regclass(year_name) IS NOT NULL THEN RETURN year_name; END IF;
      IF to_regclass(month_name) IS NOT NULL THEN RETURN month_name; END IF;
      IF yearly_before IS NOT NULL
         AND (date_trunc('year', utc) + interval '1 year') AT TIME ZONE 'UTC' <= yearly_before
         AND NOT EXISTS (SELECT 1 FROM pg_class WHERE relkind = 'r'
                         AND relname LIKE replace(prefix, '_', '\_') || '\_m' || to_char(utc, 'YYYY') || '__') THEN
        chosen := year_name;
        lo := date_trunc('year', utc);
        hi := lo + interval '1 year';
      ELSE
        chosen := month_name;
        lo := date_trunc('month', utc);
        hi := lo + interval '1 month';
      END IF;
      EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING ALL)', chosen, parent);
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     parent, chosen, lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
      RETURN chosen;
    END
    $fn$;

    -- The partitions of `parent` with their bounds, oldest first.
    CREATE FUNCTION kasparro_partitions(parent regclass)
    RETURNS TABLE (partition text, lo timestamptz, hi timestamptz) LANGUAGE sql STABLE AS $fn$
      SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
           regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
      WHERE i.inhparent = parent
      ORDER BY 2
    $fn$;

    -- Market records, partitioned by observed_at. Fixed-width columns first (no padding);
    -- the identifiers compare bytewise (COLLATE "C": the same order for these ASCII ids, and
    -- cheaper than the locale's). No foreign keys: the ETL resolves each mapping in the
    -- transaction that writes the rows, and the per-row checks halved bulk-load speed.
    CREATE TABLE market_records_v5 (
      observed_at     timestamptz NOT NULL,
      asset_id        bigint NOT NULL,
      run_id          bigint NOT NULL,
      ingested_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
      rank            integer,
      source          text COLLATE "C" NOT NULL CHECK (source IN ('coinpaprika', 'coingecko', 'csv')),
      source_id       text COLLATE "C" NOT NULL,
      symbol          text COLLATE "C" NOT NULL,
      name            text NOT NULL,
      price_usd       numeric,
      market_cap_usd  numeric,
      volume_24h_usd  numeric
    ) PARTITION BY RANGE (observed_at);

    SELECT kasparro_ensure_partition('market_records_v5', 'market_records', m,
                                     (date_trunc('year', now() AT TIME ZONE 'UTC') - interval '1 year') AT TIME ZONE 'UTC')
    FROM (SELECT DISTINCT date_trunc('month', observed_at, 'UTC') AS m FROM market_records) months ORDER BY m;

    INSERT INTO market_records_v5 (observed_at, asset_id, run_id, ingested_at, rank, source, source_id, symbol, name,
                                   price_usd, market_cap_usd, volume_24h_usd)
    SELECT observed_at, asset_id, run_id, ingested_at, rank, source, source_id, symbol, name,
           price_usd, market_cap_usd, volume_24h_usd
    FROM market_records ORDER BY observed_at;

    -- Indexes built after the copy. The key is also the API's total order read backwards
    -- (observed_at DESC, source, source_id); every index ascends in time, so a snapshot's
    -- rows land on the rightmost leaf pages, which split full instead of in halves.
    CREATE UNIQUE INDEX market_records_key ON market_records_v5 (observed_at, source DESC, source_id DESC);
    CREATE INDEX market_records_by_symbol ON market_records_v5 (upper(symbol), observed_at);
    CREATE INDEX market_records_by_asset ON market_records_v5 (asset_id, observed_at);
    CREATE INDEX market_records_by_source ON market_records_v5 (source, observed_at);

    -- Totals for asset and symbol filters per calendar month (partitions are whole months or
    -- years, so retention removes whole rollup rows); the hourly rollup stays as it was.
    CREATE TABLE market_counts_monthly (
      bucket    timestamptz NOT NULL,
      source    text COLLATE "C" NOT NULL,
      asset_id  bigint NOT NULL,
      symbol    text COLLATE "C" NOT NULL,
      n         bigint NOT NULL,
      PRIMARY KEY (bucket, source, asset_id, symbol)
    );
    CREATE INDEX market_counts_monthly_asset ON market_counts_monthly (asset_id, bucket);
    CREATE INDEX market_counts_monthly_symbol ON market_counts_monthly (symbol, bucket);
    INSERT INTO market_counts_monthly (bucket, source, asset_id, symbol, n)
    SELECT date_trunc('month', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*)
    FROM market_records_v5 GROUP BY 1, 2, 3, 4;
    DROP TABLE market_counts_daily;

    -- The rollups, kept exact by statement triggers in the writer's transaction. They also
    -- leave the statement's inserted and updated row counts in transaction-local settings
    -- (kasparro.inserted, kasparro.updated): RETURNING cannot read xmax on a partitioned table.
    CREATE OR REPLACE FUNCTION market_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO market_counts_hourly AS c (bucket, source, n)
        SELECT date_trunc('hour', observed_at, 'UTC'), source, -count(*) FROM old_rows GROUP BY 1, 2
        ON CONFLICT (bucket, source) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO market_counts_monthly AS c (bucket, source, asset_id, symbol, n)
        SELECT date_trunc('month', observed_at, 'UTC'), source, asset_id, upper(symbol), -count(*) FROM old_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, source, asset_id, symbol) DO UPDATE SET n = c.n + EXCLUDED.n;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO market_counts_hourly AS c (bucket, source, n)
        SELECT date_trunc('hour', observed_at, 'UTC'), source, count(*) FROM new_rows GROUP BY 1, 2
        ON CONFLICT (bucket, source) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO market_counts_monthly AS c (bucket, source, asset_id, symbol, n)
        SELECT date_trunc('month', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*) FROM new_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, source, asset_id, symbol) DO UPDATE SET n = c.n + EXCLUDED.n;
      END IF;
      IF TG_OP = 'INSERT' THEN
        PERFORM set_config('kasparro.inserted', (coalesce(nullif(current_setting('kasparro.inserted', true), ''), '0')::bigint
                                                 + (SELECT count(*) FROM new_rows))::text, true);
      ELSIF TG_OP = 'UPDATE' THEN
        PERFORM set_config('kasparro.updated', (coalesce(nullif(current_setting('kasparro.updated', true), ''), '0')::bigint
                                                + (SELECT count(*) FROM new_rows))::text, true);
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER market_counts_insert AFTER INSERT ON market_records_v5
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();
    CREATE TRIGGER market_counts_update AFTER UPDATE ON market_records_v5
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();
    CREATE TRIGGER market_counts_delete AFTER DELETE ON market_records_v5
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();

    -- Raw API payloads: each page as received, one row per distinct page (an unchanged
    -- snapshot stores nothing new), compressed by TOAST with lz4. `ids`, `starts` and
    -- `lengths` locate each record's bytes in `body` (0-based byte offsets).
    CREATE TABLE raw_api_pages (
      fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      run_id      bigint NOT NULL,
      page        integer NOT NULL,
      source      text COLLATE "C" NOT NULL CHECK (source IN ('coinpaprika', 'coingecko')),
      sha256      bytea NOT NULL,
      body        bytea COMPRESSION lz4 NOT NULL,
      ids         text[] COMPRESSION lz4 NOT NULL,
      starts      integer[] COMPRESSION lz4 NOT NULL,
      lengths     integer[] COMPRESSION lz4 NOT NULL
    ) PARTITION BY RANGE (fetched_at);
    CREATE INDEX raw_api_pages_sha ON raw_api_pages (source, sha256);
    CREATE INDEX raw_api_pages_run ON raw_api_pages (source, run_id);

    -- Raw CSV lines, a batch of consecutive lines per row (joined by newlines), lz4-compressed.
    CREATE TABLE raw_csv_chunks (
      stream      text NOT NULL,
      first_line  bigint NOT NULL,
      line_count  integer NOT NULL,
      run_id      bigint NOT NULL,
      fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      body        text COMPRESSION lz4 NOT NULL,
      PRIMARY KEY (stream, first_line)
    );

    -- What earlier versions stored per record stays, renamed, and is read through the views.
    ALTER TABLE raw_coinpaprika RENAME TO raw_coinpaprika_v4;
    ALTER TABLE raw_coingecko RENAME TO raw_coingecko_v4;
    ALTER TABLE raw_csv RENAME TO raw_csv_v4;

    -- Every API record's exact bytes, one row per record of every stored page.
    CREATE VIEW raw_api_records AS
      SELECT p.source, r.source_id, p.run_id, p.fetched_at, p.page, r.ord::integer AS position,
             substring(p.body FROM r.start + 1 FOR r.length) AS raw
      FROM raw_api_pages p,
           unnest(p.ids, p.starts, p.lengths) WITH ORDINALITY AS r(source_id, start, length, ord);
    -- The per-source views of DESIGN: the payload as text (bytes as received for pages, the
    -- stored jsonb's text for rows kept from before migration 5).
    CREATE VIEW raw_coinpaprika AS
      SELECT source_id, convert_from(raw, 'UTF8') AS payload, run_id, fetched_at FROM raw_api_records WHERE source = 'coinpaprika'
      UNION ALL SELECT source_id, payload::text, run_id, fetched_at FROM raw_coinpaprika_v4;
    CREATE VIEW raw_coingecko AS
      SELECT source_id, convert_from(raw, 'UTF8') AS payload, run_id, fetched_at FROM raw_api_records WHERE source = 'coingecko'
      UNION ALL SELECT source_id, payload::text, run_id, fetched_at FROM raw_coingecko_v4;
    CREATE VIEW raw_csv AS
      SELECT c.stream, c.first_line + l.ord - 1 AS line_no, l.line, c.run_id, c.fetched_at
      FROM raw_csv_chunks c, string_to_table(c.body, E'\n') WITH ORDINALITY AS l(line, ord)
      UNION ALL SELECT stream, line_no, line, run_id, fetched_at FROM raw_csv_v4;

    -- The swap: readers wait only from here to COMMIT.
    ALTER TABLE market_records RENAME TO market_records_v4;
    ALTER TABLE market_records_v5 RENAME TO market_records;
    DROP TABLE market_records_v4;
    ANALYZE market_records;
    ANALYZE market_counts_monthly;

    DO $grant$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasparro_api') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO kasparro_api;
      END IF;
    END $grant$;
    UPDATE data_version SET version = version + 1, changed_at = clock_timestamp();
    """#)
}
