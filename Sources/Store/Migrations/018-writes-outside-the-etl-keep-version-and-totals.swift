// Migration 18: writes outside the ETL keep the data version and totals exact; insert-only partitions vacuumed as they grow. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v018 = Migration(version: 18, name: "writes outside the ETL keep the data version and totals exact; insert-only partitions vacuumed as they grow", sql: #"""
    -- The data version advanced only where a writer of ours said so (ETL batches, retention, the
    -- asset commands): an operator's UPDATE or DELETE, a mending migration or a TRUNCATE left
    -- every responder serving cached pages and totals of the old data until the next ETL commit.
    -- Now the market records' own statement triggers advance it, once per transaction whoever
    -- asks first (a transaction-local setting holds the transaction that did), and the writers
    -- of ours ask through the same function, so a batch still advances it by one.
    CREATE FUNCTION kasparro_advance_version() RETURNS bigint LANGUAGE plpgsql AS $fn$
    DECLARE
      v bigint;
    BEGIN
      IF current_setting('kasparro.version_advanced_by', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE data_version SET version = version + 1, changed_at = clock_timestamp() RETURNING version INTO v;
        PERFORM set_config('kasparro.version_advanced_by', txid_current()::text, true);
        RETURN v;
      END IF;
      SELECT version INTO v FROM data_version;
      RETURN v;
    END
    $fn$;

    -- Migration 5's rollup upkeep, and the version advanced when the statement changed a row (an
    -- upsert that found every row unchanged changes none, and cached pages stay).
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
      IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT FROM old_rows) THEN PERFORM kasparro_advance_version(); END IF;
      ELSIF EXISTS (SELECT FROM new_rows) THEN
        PERFORM kasparro_advance_version();
      END IF;
      RETURN NULL;
    END
    $fn$;

    -- A TRUNCATE fires no row or statement trigger of the three above: the rollups kept counting
    -- rows that were gone. Truncating the table empties them; truncating one partition (which
    -- fires only that partition's triggers) removes its range, whole hours and months.
    CREATE FUNCTION market_records_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      lo timestamptz;
      hi timestamptz;
    BEGIN
      SELECT b[1]::timestamptz, b[2]::timestamptz INTO lo, hi
      FROM pg_class c, regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
      WHERE c.oid = TG_RELID;
      DELETE FROM market_counts_hourly WHERE lo IS NULL OR (bucket >= lo AND bucket < hi);
      DELETE FROM market_counts_monthly WHERE lo IS NULL OR (bucket >= lo AND bucket < hi);
      PERFORM kasparro_advance_version();
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER market_records_truncate AFTER TRUNCATE ON market_records
      FOR EACH STATEMENT EXECUTE FUNCTION market_records_truncated();

    -- Insert-only partitions: autovacuum's insert trigger fires at 1,000 rows plus 20% of the
    -- table, so the newest fifth of a month (and all of a month still filling) was often never
    -- all-visible, and the index-only counts and key skips of the most-asked recent ranges
    -- fetched heap pages. Each partition is vacuumed every 10,000 rows inserted instead (storage
    -- parameters are per partition: PostgreSQL 15 refuses them on a partitioned table and a
    -- partition does not inherit them). Migration 5's function, and both settings on each new
    -- partition; a market partition also gets the TRUNCATE trigger (statement triggers are not
    -- cloned to partitions).
    CREATE OR REPLACE FUNCTION kasparro_ensure_partition(parent regclass, prefix text, ts timestamptz, yearly_before timestamptz)
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
      EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_insert_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0)', chosen);
      IF parent = 'market_records'::regclass THEN
        EXECUTE format('CREATE TRIGGER market_records_truncate AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION market_records_truncated()', chosen);
      END IF;
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     parent, chosen, lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
      RETURN chosen;
    END
    $fn$;

    -- The partitions there already.
    DO $do$
    DECLARE
      p record;
    BEGIN
      FOR p IN SELECT 'market_records' AS parent, partition FROM kasparro_partitions('market_records')
               UNION ALL SELECT 'raw_api_pages', partition FROM kasparro_partitions('raw_api_pages') LOOP
        EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_insert_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0)', p.partition);
        IF p.parent = 'market_records' THEN
          EXECUTE format('CREATE TRIGGER market_records_truncate AFTER TRUNCATE ON %I
                          FOR EACH STATEMENT EXECUTE FUNCTION market_records_truncated()', p.partition);
        END IF;
      END LOOP;
    END
    $do$;
    """#)
}
