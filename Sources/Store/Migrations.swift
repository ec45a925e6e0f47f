// Versioned schema migrations, applied in order by `kasparro-etl migrate`, each in its own transaction.

/// One schema change.
public struct Migration: Sendable {
    /// Strictly increasing version number.
    public let version: Int
    /// Short name, recorded in `schema_migrations`.
    public let name: String
    /// The SQL, run in one transaction.
    public let sql: String
}

/// The project's migrations, oldest first. Never edit a released one: add a new version.
public enum Migrations {
    /// Every migration in order.
    public static let all: [Migration] = [
        Migration(version: 1, name: "core schema", sql: #"""
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
        """#),
        Migration(version: 2, name: "raw API payloads", sql: #"""
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
        """#),
        Migration(version: 3, name: "run retries and rate-limit waits", sql: #"""
        ALTER TABLE etl_runs ADD COLUMN retries integer NOT NULL DEFAULT 0,
                             ADD COLUMN rate_limit_wait_seconds double precision NOT NULL DEFAULT 0;
        """#),
        Migration(version: 4, name: "exact totals rolled up per hour and day", sql: #"""
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
        """#),
        Migration(version: 5, name: "a year on one machine: partitions, compact indexes, raw snapshots", sql: Migrations.yearLayout),
        Migration(version: 6, name: "announce each data version (NOTIFY at commit)", sql: #"""
        -- Every writer that changes served data bumps data_version (the ETL, retention, migrations,
        -- operator commands); this trigger announces the new version on the channel the responders
        -- LISTEN on. PostgreSQL delivers a NOTIFY only when its transaction commits, so a responder
        -- never hears of a version before it can read it.
        CREATE FUNCTION kasparro_announce_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          PERFORM pg_notify('kasparro_data_version', NEW.version::text);
          RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER data_version_announce AFTER UPDATE ON data_version
          FOR EACH ROW EXECUTE FUNCTION kasparro_announce_version();
        """#),
        Migration(version: 7, name: "the operator's word on identity: overrides and aliases", sql: #"""
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
        """#),
        Migration(version: 8, name: "identity evidence: supply and the evidence of each mapping", sql: #"""
        -- What the matcher compared: each mapping's supply figures when it was made (evidence for
        -- later coins) and the evidence, with weights, that tied it to its asset.
        ALTER TABLE asset_sources
          ADD COLUMN max_supply float8, ADD COLUMN total_supply float8, ADD COLUMN circulating_supply float8,
          ADD COLUMN evidence jsonb, ADD COLUMN score float8;
        """#),
        Migration(version: 9, name: "each API's own coin list, fetched at most once a day", sql: #"""
        -- The latest coin list of each API as received (lz4 TOAST), and its coins: ids, tickers and
        -- names of every coin the source knows, not only those in the market snapshots.
        CREATE TABLE coin_lists (
          source      text PRIMARY KEY CHECK (source IN ('coinpaprika', 'coingecko')),
          fetched_at  timestamptz NOT NULL,
          coins       integer NOT NULL,
          body        bytea NOT NULL
        );
        ALTER TABLE coin_lists ALTER COLUMN body SET COMPRESSION lz4;
        CREATE TABLE source_coins (
          source  text NOT NULL,
          id      text COLLATE "C" NOT NULL,
          symbol  text NOT NULL,
          name    text NOT NULL,
          PRIMARY KEY (source, id)
        );
        """#),
        Migration(version: 10, name: "checkpoints by recency", sql: #"""
        -- /stats lists each source's most recently moved streams.
        CREATE INDEX etl_checkpoints_recent ON etl_checkpoints (source, updated_at DESC, stream);
        """#),
        Migration(version: 11, name: "raw API pages compressed with pglz", sql: #"""
        -- pglz packs the JSON pages 10-13% tighter than lz4 (the samples: CoinGecko 409 against 468
        -- bytes a record, CoinPaprika 185 against 206); a page is compressed once, when stored, and
        -- read back only by `kasparro-etl raw` and the raw views. Pages stored before keep lz4 (both
        -- read the same); new partitions inherit the setting (CREATE TABLE … LIKE … INCLUDING ALL).
        -- PostgreSQL 15 does not carry the setting to existing partitions: each one is altered too.
        ALTER TABLE raw_api_pages ALTER COLUMN body SET COMPRESSION pglz, ALTER COLUMN ids SET COMPRESSION pglz;
        DO $pglz$
        DECLARE part regclass;
        BEGIN
          FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'raw_api_pages'::regclass LOOP
            EXECUTE format('ALTER TABLE %s ALTER COLUMN body SET COMPRESSION pglz, ALTER COLUMN ids SET COMPRESSION pglz', part);
          END LOOP;
        END
        $pglz$;
        """#),
        Migration(version: 12, name: "raw API pages kept as a skeleton and its numbers", sql: #"""
        -- A page's bytes kept as two texts that pglz packs a fifth tighter than the page itself
        -- (pglz finds repeats only within 4 KB, about four records, and a record's numbers break its
        -- repeats up): `skeleton` is the page with every run of number characters (digits with the
        -- signs, points and exponent letters around them) replaced by the byte 0x01, and `numbers`
        -- is those runs in order, joined by commas. A page that holds a 0x00 or 0x01 byte or is not
        -- UTF-8 (never a page the ETL parsed) keeps `body` as before; pages stored before keep it too.
        ALTER TABLE raw_api_pages ALTER COLUMN body DROP NOT NULL,
          ADD COLUMN skeleton text COMPRESSION pglz,
          ADD COLUMN numbers text COMPRESSION pglz,
          ADD CONSTRAINT raw_api_pages_bytes
            CHECK (CASE WHEN body IS NULL THEN skeleton IS NOT NULL AND numbers IS NOT NULL
                        ELSE skeleton IS NULL AND numbers IS NULL END);
        DO $pglz$
        DECLARE part regclass;
        BEGIN
          FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'raw_api_pages'::regclass LOOP
            EXECUTE format('ALTER TABLE %s ALTER COLUMN skeleton SET COMPRESSION pglz, ALTER COLUMN numbers SET COMPRESSION pglz', part);
          END LOOP;
        END
        $pglz$;

        -- A stored page's exact bytes, whichever way it is kept.
        CREATE FUNCTION kasparro_page_bytes(body bytea, skeleton text, numbers text) RETURNS bytea
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
          SELECT CASE WHEN body IS NOT NULL THEN body ELSE convert_to(array_to_string(ARRAY(
                   SELECT coalesce(part, '') || coalesce(number, '')
                   FROM unnest(string_to_array(skeleton, E'\x01'), string_to_array(numbers, ','))
                        WITH ORDINALITY AS u(part, number, ord)
                   ORDER BY ord), ''), 'UTF8') END
        $fn$;
        -- Every record of a page: the page is rebuilt once (PL/pgSQL is never inlined), then cut.
        CREATE FUNCTION kasparro_page_records(body bytea, skeleton text, numbers text, ids text[], starts integer[], lengths integer[])
        RETURNS TABLE (source_id text, "position" integer, raw bytea)
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
        DECLARE
          page bytea := kasparro_page_bytes(body, skeleton, numbers);
        BEGIN
          RETURN QUERY SELECT r.id, r.ord::integer, substring(page FROM r.start + 1 FOR r.length)
                       FROM unnest(ids, starts, lengths) WITH ORDINALITY AS r(id, start, length, ord);
        END
        $fn$;
        CREATE OR REPLACE VIEW raw_api_records AS
          SELECT p.source, r.source_id, p.run_id, p.fetched_at, p.page, r.position, r.raw
          FROM raw_api_pages p,
               kasparro_page_records(p.body, p.skeleton, p.numbers, p.ids, p.starts, p.lengths) AS r;
        """#),
        Migration(version: 13, name: "room in the hourly rollup's pages for its updates", sql: #"""
        -- A bulk load updates each hourly bucket once per batch. With full pages a tenth of those
        -- updates moved the row to another page, and the table grew (a 1,000,000-row load: 45 pages
        -- for 1,000 rows; 30,000,000: 208 for 3,203), which /stats reads whole. Half-full pages keep
        -- the updates in their page (HOT: 99.9% instead of 90%; 14 pages). New pages only.
        ALTER TABLE market_counts_hourly SET (fillfactor = 50);
        """#),
        Migration(version: 14, name: "each source's record, run, checkpoint and quarantine totals in one row", sql: #"""
        -- /stats aggregated every run on every call, and a year at the default schedule is 70,000
        -- runs (and 26,000 hourly rollup rows). One row per source now holds what it showed, kept
        -- by triggers in the writers' own transactions (like the rollups): a run's insert and its
        -- progress add their difference; the rare change to a finished run, a deleted run or a
        -- TRUNCATE counts that source again. `last_run` also spares /stats and /health a search of
        -- every run for a source's latest (a source that has not run for a while is a scan).
        CREATE TABLE etl_source_totals (
          source           text PRIMARY KEY,
          runs             bigint NOT NULL DEFAULT 0,
          failed_runs      bigint NOT NULL DEFAULT 0,
          processed        bigint NOT NULL DEFAULT 0,
          last_run         bigint,
          last_success_at  timestamptz,
          last_failure_at  timestamptz,
          last_failed_run  bigint,
          checkpoints      bigint NOT NULL DEFAULT 0,
          quarantined      bigint NOT NULL DEFAULT 0,
          records          bigint NOT NULL DEFAULT 0
        );

        CREATE FUNCTION etl_source_totals_recount_runs(sources text[]) RETURNS void LANGUAGE sql AS $fn$
          INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                              last_failure_at, last_failed_run)
          SELECT s, count(r.run_id), count(*) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.fetched), 0), max(r.run_id),
                 max(r.finished_at) FILTER (WHERE r.status = 'succeeded'), max(r.finished_at) FILTER (WHERE r.status = 'failed'),
                 max(r.run_id) FILTER (WHERE r.status = 'failed')
          FROM unnest(sources) s LEFT JOIN etl_runs r ON r.source = s GROUP BY s
          ON CONFLICT (source) DO UPDATE SET runs = EXCLUDED.runs, failed_runs = EXCLUDED.failed_runs,
            processed = EXCLUDED.processed, last_run = EXCLUDED.last_run, last_success_at = EXCLUDED.last_success_at,
            last_failure_at = EXCLUDED.last_failure_at, last_failed_run = EXCLUDED.last_failed_run;
        $fn$;

        -- Per statement, like the rollups (a bulk insert of runs writes each source's row once).
        CREATE FUNCTION etl_runs_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN
            UPDATE etl_source_totals SET runs = 0, failed_runs = 0, processed = 0, last_run = NULL,
              last_success_at = NULL, last_failure_at = NULL, last_failed_run = NULL;
            RETURN NULL;
          ELSIF TG_OP = 'DELETE' THEN
            PERFORM etl_source_totals_recount_runs(array(SELECT DISTINCT source FROM old_rows));
            RETURN NULL;
          ELSIF TG_OP = 'UPDATE' THEN
            IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (run_id) WHERE o.status <> 'running' OR n.source <> o.source) THEN
              -- A finished run changed, or a run moved to another source: count those sources again.
              PERFORM etl_source_totals_recount_runs(array(SELECT source FROM old_rows UNION SELECT source FROM new_rows));
              RETURN NULL;
            END IF;
          END IF;
          -- Runs inserted, or running runs that progressed or finished: add the difference.
          EXECUTE format($q$
            INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                                last_failure_at, last_failed_run)
            SELECT source, sum(runs), sum(failed), sum(processed), max(last_run), max(last_success), max(last_failure),
                   max(last_failed)
            FROM (SELECT source, 1 AS runs, (status = 'failed')::int AS failed, fetched::bigint AS processed, run_id AS last_run,
                         CASE WHEN status = 'succeeded' THEN finished_at END AS last_success,
                         CASE WHEN status = 'failed' THEN finished_at END AS last_failure,
                         CASE WHEN status = 'failed' THEN run_id END AS last_failed
                  FROM new_rows %s) d
            GROUP BY source
            ON CONFLICT (source) DO UPDATE SET runs = t.runs + EXCLUDED.runs, failed_runs = t.failed_runs + EXCLUDED.failed_runs,
              processed = t.processed + EXCLUDED.processed, last_run = greatest(t.last_run, EXCLUDED.last_run),
              last_success_at = greatest(t.last_success_at, EXCLUDED.last_success_at),
              last_failure_at = greatest(t.last_failure_at, EXCLUDED.last_failure_at),
              last_failed_run = greatest(t.last_failed_run, EXCLUDED.last_failed_run)
            $q$, CASE WHEN TG_OP = 'UPDATE' THEN
                   'UNION ALL SELECT source, -1, 0, -fetched::bigint, NULL, NULL, NULL, NULL FROM old_rows' ELSE '' END);
          RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER etl_runs_insert AFTER INSERT ON etl_runs REFERENCING NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
        CREATE TRIGGER etl_runs_update AFTER UPDATE ON etl_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
        CREATE TRIGGER etl_runs_delete AFTER DELETE ON etl_runs REFERENCING OLD TABLE AS old_rows
          FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();
        CREATE TRIGGER etl_runs_truncate AFTER TRUNCATE ON etl_runs
          FOR EACH STATEMENT EXECUTE FUNCTION etl_runs_totals();

        -- Streams, quarantined records and market records (the hourly rollup's n): the column and
        -- what each row adds to it are the trigger's arguments. One grouped upsert per statement,
        -- rows removed subtracted and rows added added, as for the market rollups; an UPDATE writes
        -- only when the sum moved (the checkpoint upsert of every batch moves none).
        CREATE FUNCTION etl_source_totals_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
          upsert text := format('INSERT INTO etl_source_totals AS t (source, %1$I) %%s
                                 ON CONFLICT (source) DO UPDATE SET %1$I = t.%1$I + EXCLUDED.%1$I', TG_ARGV[0]);
          w text := TG_ARGV[1];
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN
            EXECUTE format('UPDATE etl_source_totals SET %I = 0', TG_ARGV[0]);
          ELSIF TG_OP = 'INSERT' THEN
            EXECUTE format(upsert, format('SELECT source, sum(%s) FROM new_rows GROUP BY source', w));
          ELSIF TG_OP = 'DELETE' THEN
            EXECUTE format(upsert, format('SELECT source, -sum(%s) FROM old_rows GROUP BY source', w));
          ELSE
            EXECUTE format(upsert, format('SELECT source, sum(d) FROM (SELECT source, -(%1$s) AS d FROM old_rows
                                           UNION ALL SELECT source, %1$s FROM new_rows) m GROUP BY source HAVING sum(d) <> 0', w));
          END IF;
          RETURN NULL;
        END
        $fn$;
        DO $do$
        DECLARE
          t record;
        BEGIN
          FOR t IN SELECT * FROM (VALUES ('etl_checkpoints', 'checkpoints', '1'), ('quarantine', 'quarantined', '1'),
                                         ('market_counts_hourly', 'records', 'n')) v(tab, col, weight) LOOP
            EXECUTE format('CREATE TRIGGER %1$I AFTER INSERT ON %2$I REFERENCING NEW TABLE AS new_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_insert', t.tab, t.col, t.weight);
            EXECUTE format('CREATE TRIGGER %1$I AFTER UPDATE ON %2$I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_update', t.tab, t.col, t.weight);
            EXECUTE format('CREATE TRIGGER %1$I AFTER DELETE ON %2$I REFERENCING OLD TABLE AS old_rows
                            FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_delete', t.tab, t.col, t.weight);
            EXECUTE format('CREATE TRIGGER %1$I AFTER TRUNCATE ON %2$I
                            FOR EACH STATEMENT EXECUTE FUNCTION etl_source_totals_count(%3$L, %4$L)', t.tab || '_truncate', t.tab, t.col, t.weight);
          END LOOP;
        END
        $do$;

        -- What is there already (the triggers exist from here on, in the same transaction).
        SELECT etl_source_totals_recount_runs(array(SELECT DISTINCT source FROM etl_runs));
        INSERT INTO etl_source_totals AS t (source, checkpoints) SELECT source, count(*) FROM etl_checkpoints GROUP BY source
        ON CONFLICT (source) DO UPDATE SET checkpoints = EXCLUDED.checkpoints;
        INSERT INTO etl_source_totals AS t (source, quarantined) SELECT source, count(*) FROM quarantine GROUP BY source
        ON CONFLICT (source) DO UPDATE SET quarantined = EXCLUDED.quarantined;
        INSERT INTO etl_source_totals AS t (source, records) SELECT source, sum(n) FROM market_counts_hourly GROUP BY source
        ON CONFLICT (source) DO UPDATE SET records = EXCLUDED.records;
        """#),
        Migration(version: 15, name: "every stored symbol upper-cased, held by a constraint", sql: #"""
        -- The ETL has always stored a row's ticker upper-cased (Swift's `uppercased()` leaves no
        -- ASCII lower-case letter, and `upper()` under the column's C collation changes nothing
        -- else), so `upper(symbol) = symbol` on every row it wrote. Migration 16 indexes `symbol`
        -- as stored, which answers a symbol filter only while that holds: a row stored otherwise
        -- (by hand) is mended here, and the constraint refuses any from now on. Its check of the
        -- rows already stored is migration 16's (VALIDATE takes a lock that lets readers and
        -- writers go on; ADD takes one that stops readers, so it comes last and holds it briefly).
        UPDATE market_records SET symbol = upper(symbol) WHERE symbol <> upper(symbol);
        ALTER TABLE market_records ADD CONSTRAINT market_records_symbol_upper CHECK (symbol = upper(symbol)) NOT VALID;
        """#),
        Migration(version: 16, name: "the symbol index holds the symbol as stored (index-only edge counts)", sql: #"""
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
        """#),
    ]
}

/// Applies pending migrations.
public struct Migrator {
    private let connection: Connection

    /// Uses `connection`, which must be allowed to create tables (the ETL role).
    public init(connection: Connection) { self.connection = connection }

    /// Applies every migration newer than the database's, in order, each in one transaction,
    /// under an advisory lock so two migrators never race. Returns the versions applied.
    @discardableResult
    public func migrate(_ migrations: [Migration] = Migrations.all) throws -> [Int] {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
              version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        try connection.query("SELECT pg_advisory_lock(7461001)")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(7461001)") }
        let current = try currentVersion()
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            try connection.transaction {
                try connection.execute(migration.sql)
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                     [String(migration.version), migration.name])
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// The newest applied version, 0 for an empty database.
    public func currentVersion() throws -> Int {
        try connection.query("SELECT coalesce(max(version), 0) AS version FROM schema_migrations").single().get("version")
    }
}
