// Migration 4: exact totals rolled up per hour and day. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v004 = Migration(version: 4, name: "exact totals rolled up per hour and day", sql: #"""
    -- Rows of market_records counted per hour and source (unfiltered and source-only totals),
    -- and per day, source, asset and the row's own upper-cased ticker (asset and symbol
    -- filters): a total sums a few rollup rows and counts only the partial hour or day at a
    -- since/until edge from market_records, so its cost does not grow with the table.
    CREATE TABLE market_counts_hourly (
      bucket  timestamptz NOT NULL,
      source  text NOT NULL,
      n       bigint NOT NULL,
      PRIMARY KEY (bucket, source)
    );
    CREATE TABLE market_counts_daily (
      bucket    timestamptz NOT NULL,
      source    text NOT NULL,
      asset_id  bigint NOT NULL,
      symbol    text NOT NULL,
      n         bigint NOT NULL,
      PRIMARY KEY (bucket, source, asset_id, symbol)
    );
    CREATE INDEX market_counts_daily_asset ON market_counts_daily (asset_id, bucket);
    CREATE INDEX market_counts_daily_symbol ON market_counts_daily (symbol, bucket);

    -- Kept exact by statement-level triggers, in the transaction of the rows they count, for
    -- every writer (ETL upserts, operator fixes, retention): removed rows are subtracted and
    -- added rows added, each statement with one grouped upsert per table.
    CREATE FUNCTION market_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO market_counts_hourly AS c (bucket, source, n)
        SELECT date_trunc('hour', observed_at, 'UTC'), source, -count(*) FROM old_rows GROUP BY 1, 2
        ON CONFLICT (bucket, source) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO market_counts_daily AS c (bucket, source, asset_id, symbol, n)
        SELECT date_trunc('day', observed_at, 'UTC'), source, asset_id, upper(symbol), -count(*) FROM old_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, source, asset_id, symbol) DO UPDATE SET n = c.n + EXCLUDED.n;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO market_counts_hourly AS c (bucket, source, n)
        SELECT date_trunc('hour', observed_at, 'UTC'), source, count(*) FROM new_rows GROUP BY 1, 2
        ON CONFLICT (bucket, source) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO market_counts_daily AS c (bucket, source, asset_id, symbol, n)
        SELECT date_trunc('day', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*) FROM new_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, source, asset_id, symbol) DO UPDATE SET n = c.n + EXCLUDED.n;
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER market_counts_insert AFTER INSERT ON market_records
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();
    CREATE TRIGGER market_counts_update AFTER UPDATE ON market_records
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();
    CREATE TRIGGER market_counts_delete AFTER DELETE ON market_records
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION market_counts_apply();

    -- The rows already there (the triggers exist from here on, in the same transaction).
    INSERT INTO market_counts_hourly (bucket, source, n)
    SELECT date_trunc('hour', observed_at, 'UTC'), source, count(*) FROM market_records GROUP BY 1, 2;
    INSERT INTO market_counts_daily (bucket, source, asset_id, symbol, n)
    SELECT date_trunc('day', observed_at, 'UTC'), source, asset_id, upper(symbol), count(*) FROM market_records GROUP BY 1, 2, 3, 4;
    """#)
}
