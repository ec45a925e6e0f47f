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

    -- The version advanced when a statement changed a row (an upsert that found every row
    -- unchanged changes none, and cached pages stay). Beside migration 5's rollup triggers, which
    -- fire first (by name) and share the same transition tables.
    CREATE FUNCTION market_records_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT FROM old_rows) THEN PERFORM kasparro_advance_version(); END IF;
      ELSIF EXISTS (SELECT FROM new_rows) THEN
        PERFORM kasparro_advance_version();
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER market_records_version_insert AFTER INSERT ON market_records
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_records_changed();
    CREATE TRIGGER market_records_version_update AFTER UPDATE ON market_records
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION market_records_changed();
    CREATE TRIGGER market_records_version_delete AFTER DELETE ON market_records
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION market_records_changed();

    -- A TRUNCATE fires no row or statement trigger of the three above: the rollups kept counting
    -- rows that were gone. Truncating the table empties them; truncating one partition (which
    -- fires only that partition's triggers) removes its range, whole hours and months.
    CREATE FUNCTION market_records_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      lo timestamptz;
      hi timestamptz;
    BEGIN
      -- No bounds for the table itself: everything goes.
      SELECT p.lo, p.hi INTO lo, hi FROM kasparro_partitions('market_records') p WHERE p.partition = TG_TABLE_NAME;
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
    -- partition does not inherit them); a market partition also gets the TRUNCATE trigger
    -- (statement triggers are not cloned to partitions). Done to a partition that lacks them, so
    -- it also mends one made meanwhile by the previous release's ETL.
    CREATE FUNCTION kasparro_prepare_partition(parent regclass, partition text) RETURNS void LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NOT coalesce((SELECT reloptions @> '{autovacuum_vacuum_insert_threshold=10000}' FROM pg_class
                       WHERE oid = partition::regclass), false) THEN
        EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_insert_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0)', partition);
      END IF;
      IF parent = 'market_records'::regclass
         AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = partition::regclass AND tgname = 'market_records_truncate') THEN
        EXECUTE format('CREATE TRIGGER market_records_truncate AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION market_records_truncated()', partition);
      END IF;
    END
    $fn$;

    -- What the ETL calls from now on: migration 5's kasparro_ensure_partition, then the above.
    CREATE FUNCTION kasparro_partition(parent regclass, prefix text, ts timestamptz, yearly_before timestamptz)
    RETURNS text LANGUAGE plpgsql AS $fn$
    DECLARE
      chosen text := kasparro_ensure_partition(parent, prefix, ts, yearly_before);
    BEGIN
      PERFORM kasparro_prepare_partition(parent, chosen);
      RETURN chosen;
    END
    $fn$;

    SELECT kasparro_prepare_partition(parent, partition)
    FROM (SELECT 'market_records'::regclass AS parent, partition FROM kasparro_partitions('market_records')
          UNION ALL SELECT 'raw_api_pages'::regclass, partition FROM kasparro_partitions('raw_api_pages')) p;
    """#)
}
