-- The schema after every migration, as `make schema` writes it (pg_dump --schema-only of an
-- empty database migrated by kasparro-etl, normalised). Generated: edit the migrations in
-- Sources/Store/Migrations/, never this file; Tests/integration/test_schema.py holds it.

--
-- Name: etl_runs_totals(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.etl_runs_totals() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE etl_source_totals SET runs = 0, failed_runs = 0, processed = 0, last_run = NULL,
      last_success_at = NULL, last_failure_at = NULL, last_failed_run = NULL, inserted = 0, updated = 0,
      unchanged = 0, run_quarantined = 0, retries = 0, rate_limit_wait_seconds = 0, running_runs = 0,
      last_finished_run = NULL;
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
  -- Runs inserted, or running runs that progressed or finished: add the difference (an old
  -- row here is always a running run).
  EXECUTE format($q$
    INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                        last_failure_at, last_failed_run, inserted, updated, unchanged,
                                        run_quarantined, retries, rate_limit_wait_seconds, running_runs,
                                        last_finished_run)
    SELECT source, sum(runs), sum(failed), sum(processed), max(last_run), max(last_success), max(last_failure),
           max(last_failed), sum(inserted), sum(updated), sum(unchanged), sum(quarantined), sum(retries),
           sum(waited), sum(running), max(last_finished)
    FROM (SELECT source, 1 AS runs, (status = 'failed')::int AS failed, fetched::bigint AS processed, run_id AS last_run,
                 CASE WHEN status = 'succeeded' THEN finished_at END AS last_success,
                 CASE WHEN status = 'failed' THEN finished_at END AS last_failure,
                 CASE WHEN status = 'failed' THEN run_id END AS last_failed,
                 inserted::bigint AS inserted, updated::bigint AS updated, unchanged::bigint AS unchanged,
                 quarantined::bigint AS quarantined, retries::bigint AS retries, rate_limit_wait_seconds AS waited,
                 (status = 'running')::int AS running,
                 CASE WHEN finished_at IS NOT NULL THEN run_id END AS last_finished
          FROM new_rows %s) d
    GROUP BY source
    ON CONFLICT (source) DO UPDATE SET runs = t.runs + EXCLUDED.runs, failed_runs = t.failed_runs + EXCLUDED.failed_runs,
      processed = t.processed + EXCLUDED.processed, last_run = greatest(t.last_run, EXCLUDED.last_run),
      last_success_at = greatest(t.last_success_at, EXCLUDED.last_success_at),
      last_failure_at = greatest(t.last_failure_at, EXCLUDED.last_failure_at),
      last_failed_run = greatest(t.last_failed_run, EXCLUDED.last_failed_run),
      inserted = t.inserted + EXCLUDED.inserted, updated = t.updated + EXCLUDED.updated,
      unchanged = t.unchanged + EXCLUDED.unchanged, run_quarantined = t.run_quarantined + EXCLUDED.run_quarantined,
      retries = t.retries + EXCLUDED.retries,
      rate_limit_wait_seconds = t.rate_limit_wait_seconds + EXCLUDED.rate_limit_wait_seconds,
      running_runs = t.running_runs + EXCLUDED.running_runs,
      last_finished_run = greatest(t.last_finished_run, EXCLUDED.last_finished_run)
    $q$, CASE WHEN TG_OP = 'UPDATE' THEN
           'UNION ALL SELECT source, -1, 0, -fetched::bigint, NULL, NULL, NULL, NULL, -inserted::bigint, -updated::bigint,
                   -unchanged::bigint, -quarantined::bigint, -retries::bigint, -rate_limit_wait_seconds, -1, NULL
            FROM old_rows' ELSE '' END);
  RETURN NULL;
END
$_$;

ALTER FUNCTION public.etl_runs_totals() OWNER TO kasparro_etl;

--
-- Name: etl_source_totals_count(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.etl_source_totals_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
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
$_$;

ALTER FUNCTION public.etl_source_totals_count() OWNER TO kasparro_etl;

--
-- Name: etl_source_totals_recount_runs(text[]); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.etl_source_totals_recount_runs(sources text[]) RETURNS void
    LANGUAGE sql
    AS $$
  INSERT INTO etl_source_totals AS t (source, runs, failed_runs, processed, last_run, last_success_at,
                                      last_failure_at, last_failed_run, inserted, updated, unchanged, run_quarantined,
                                      retries, rate_limit_wait_seconds, running_runs, last_finished_run)
  SELECT s, count(r.run_id), count(*) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.fetched), 0), max(r.run_id),
         max(r.finished_at) FILTER (WHERE r.status = 'succeeded'), max(r.finished_at) FILTER (WHERE r.status = 'failed'),
         max(r.run_id) FILTER (WHERE r.status = 'failed'), coalesce(sum(r.inserted), 0), coalesce(sum(r.updated), 0),
         coalesce(sum(r.unchanged), 0), coalesce(sum(r.quarantined), 0), coalesce(sum(r.retries), 0),
         coalesce(sum(r.rate_limit_wait_seconds), 0), count(*) FILTER (WHERE r.status = 'running'),
         max(r.run_id) FILTER (WHERE r.finished_at IS NOT NULL)
  FROM unnest(sources) s LEFT JOIN etl_runs r ON r.source = s GROUP BY s
  ON CONFLICT (source) DO UPDATE SET runs = EXCLUDED.runs, failed_runs = EXCLUDED.failed_runs,
    processed = EXCLUDED.processed, last_run = EXCLUDED.last_run, last_success_at = EXCLUDED.last_success_at,
    last_failure_at = EXCLUDED.last_failure_at, last_failed_run = EXCLUDED.last_failed_run,
    inserted = EXCLUDED.inserted, updated = EXCLUDED.updated, unchanged = EXCLUDED.unchanged,
    run_quarantined = EXCLUDED.run_quarantined, retries = EXCLUDED.retries,
    rate_limit_wait_seconds = EXCLUDED.rate_limit_wait_seconds, running_runs = EXCLUDED.running_runs,
    last_finished_run = EXCLUDED.last_finished_run;
$$;

ALTER FUNCTION public.etl_source_totals_recount_runs(sources text[]) OWNER TO kasparro_etl;

--
-- Name: kasparro_advance_version(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_advance_version() RETURNS bigint
    LANGUAGE plpgsql
    AS $$
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
$$;

ALTER FUNCTION public.kasparro_advance_version() OWNER TO kasparro_etl;

--
-- Name: kasparro_announce_version(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_announce_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  PERFORM pg_notify('kasparro_data_version', NEW.version::text);
  RETURN NULL;
END
$$;

ALTER FUNCTION public.kasparro_announce_version() OWNER TO kasparro_etl;

--
-- Name: kasparro_ensure_partition(regclass, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_ensure_partition(parent regclass, prefix text, ts timestamp with time zone, yearly_before timestamp with time zone) RETURNS text
    LANGUAGE plpgsql
    AS $$
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
$$;

ALTER FUNCTION public.kasparro_ensure_partition(parent regclass, prefix text, ts timestamp with time zone, yearly_before timestamp with time zone) OWNER TO kasparro_etl;

--
-- Name: kasparro_page_bytes(bytea, text, text); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_page_bytes(body bytea, skeleton text, numbers text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT CASE WHEN body IS NOT NULL THEN body ELSE convert_to(array_to_string(ARRAY(
           SELECT coalesce(part, '') || coalesce(number, '')
           FROM unnest(string_to_array(skeleton, E'\x01'), string_to_array(numbers, ','))
                WITH ORDINALITY AS u(part, number, ord)
           ORDER BY ord), ''), 'UTF8') END
$$;

ALTER FUNCTION public.kasparro_page_bytes(body bytea, skeleton text, numbers text) OWNER TO kasparro_etl;

--
-- Name: kasparro_page_records(bytea, text, text, text[], integer[], integer[]); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_page_records(body bytea, skeleton text, numbers text, ids text[], starts integer[], lengths integer[]) RETURNS TABLE(source_id text, "position" integer, raw bytea)
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
  page bytea := kasparro_page_bytes(body, skeleton, numbers);
BEGIN
  RETURN QUERY SELECT r.id, r.ord::integer, substring(page FROM r.start + 1 FOR r.length)
               FROM unnest(ids, starts, lengths) WITH ORDINALITY AS r(id, start, length, ord);
END
$$;

ALTER FUNCTION public.kasparro_page_records(body bytea, skeleton text, numbers text, ids text[], starts integer[], lengths integer[]) OWNER TO kasparro_etl;

--
-- Name: kasparro_partition(regclass, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_partition(parent regclass, prefix text, ts timestamp with time zone, yearly_before timestamp with time zone) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
  chosen text := kasparro_ensure_partition(parent, prefix, ts, yearly_before);
BEGIN
  PERFORM kasparro_prepare_partition(parent, chosen);
  RETURN chosen;
END
$$;

ALTER FUNCTION public.kasparro_partition(parent regclass, prefix text, ts timestamp with time zone, yearly_before timestamp with time zone) OWNER TO kasparro_etl;

--
-- Name: kasparro_partitions(regclass); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_partitions(parent regclass) RETURNS TABLE(partition text, lo timestamp with time zone, hi timestamp with time zone)
    LANGUAGE sql STABLE
    AS $$
  SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
       regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
  WHERE i.inhparent = parent
  ORDER BY 2
$$;

ALTER FUNCTION public.kasparro_partitions(parent regclass) OWNER TO kasparro_etl;

--
-- Name: kasparro_prepare_partition(regclass, text); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.kasparro_prepare_partition(parent regclass, partition text) RETURNS void
    LANGUAGE plpgsql
    AS $$
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
$$;

ALTER FUNCTION public.kasparro_prepare_partition(parent regclass, partition text) OWNER TO kasparro_etl;

--
-- Name: market_counts_apply(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.market_counts_apply() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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
$$;

ALTER FUNCTION public.market_counts_apply() OWNER TO kasparro_etl;

--
-- Name: market_records_changed(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.market_records_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT FROM old_rows) THEN PERFORM kasparro_advance_version(); END IF;
  ELSIF EXISTS (SELECT FROM new_rows) THEN
    PERFORM kasparro_advance_version();
  END IF;
  RETURN NULL;
END
$$;

ALTER FUNCTION public.market_records_changed() OWNER TO kasparro_etl;

--
-- Name: market_records_truncated(); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.market_records_truncated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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
$$;

ALTER FUNCTION public.market_records_truncated() OWNER TO kasparro_etl;

--
-- Name: rfc3339(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: kasparro_etl
--

CREATE FUNCTION public.rfc3339(ts timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT CASE WHEN date_trunc('second', ts) = ts
              THEN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
              ELSE to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

ALTER FUNCTION public.rfc3339(ts timestamp with time zone) OWNER TO kasparro_etl;

--
-- Name: asset_aliases; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.asset_aliases (
    alias_id bigint NOT NULL,
    asset_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT asset_aliases_check CHECK ((alias_id <> asset_id))
);

ALTER TABLE public.asset_aliases OWNER TO kasparro_etl;

--
-- Name: asset_overrides; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.asset_overrides (
    override_id bigint NOT NULL,
    kind text NOT NULL,
    asset_id bigint NOT NULL,
    other_id bigint NOT NULL,
    source text,
    source_id text,
    rows_moved bigint NOT NULL,
    operator text NOT NULL,
    reason text NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT asset_overrides_kind_check CHECK ((kind = ANY (ARRAY['merge'::text, 'split'::text]))),
    CONSTRAINT asset_overrides_operator_check CHECK ((operator <> ''::text)),
    CONSTRAINT asset_overrides_reason_check CHECK ((btrim(reason) <> ''::text))
);

ALTER TABLE public.asset_overrides OWNER TO kasparro_etl;

--
-- Name: asset_overrides_override_id_seq; Type: SEQUENCE; Schema: public; Owner: kasparro_etl
--

ALTER TABLE public.asset_overrides ALTER COLUMN override_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.asset_overrides_override_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: asset_sources; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.asset_sources (
    source text NOT NULL,
    source_id text NOT NULL,
    asset_id bigint NOT NULL,
    symbol text NOT NULL,
    name text NOT NULL,
    match_method text NOT NULL,
    match_confidence numeric(4,3) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    max_supply double precision,
    total_supply double precision,
    circulating_supply double precision,
    evidence jsonb,
    score double precision,
    first_data_at timestamp with time zone,
    ath_at timestamp with time zone,
    atl_at timestamp with time zone,
    CONSTRAINT asset_sources_match_confidence_check CHECK (((match_confidence >= (0)::numeric) AND (match_confidence <= (1)::numeric))),
    CONSTRAINT asset_sources_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text, 'csv'::text])))
);

ALTER TABLE public.asset_sources OWNER TO kasparro_etl;

--
-- Name: assets; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.assets (
    asset_id bigint NOT NULL,
    symbol text NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.assets OWNER TO kasparro_etl;

--
-- Name: assets_asset_id_seq; Type: SEQUENCE; Schema: public; Owner: kasparro_etl
--

ALTER TABLE public.assets ALTER COLUMN asset_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.assets_asset_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: coin_lists; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.coin_lists (
    source text NOT NULL,
    fetched_at timestamp with time zone NOT NULL,
    coins integer NOT NULL,
    body bytea NOT NULL,
    CONSTRAINT coin_lists_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text])))
);
ALTER TABLE ONLY public.coin_lists ALTER COLUMN body SET COMPRESSION lz4;

ALTER TABLE public.coin_lists OWNER TO kasparro_etl;

--
-- Name: data_version; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.data_version (
    singleton boolean DEFAULT true NOT NULL,
    version bigint NOT NULL,
    changed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT data_version_singleton_check CHECK (singleton)
);

ALTER TABLE public.data_version OWNER TO kasparro_etl;

--
-- Name: etl_checkpoints; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.etl_checkpoints (
    source text NOT NULL,
    stream text NOT NULL,
    "position" bigint NOT NULL,
    line_no bigint DEFAULT 0 NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    run_id bigint,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT etl_checkpoints_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text, 'csv'::text])))
);

ALTER TABLE public.etl_checkpoints OWNER TO kasparro_etl;

--
-- Name: etl_runs; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.etl_runs (
    run_id bigint NOT NULL,
    invocation_id uuid NOT NULL,
    source text NOT NULL,
    trigger text NOT NULL,
    status text NOT NULL,
    started_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    finished_at timestamp with time zone,
    fetched integer DEFAULT 0 NOT NULL,
    inserted integer DEFAULT 0 NOT NULL,
    updated integer DEFAULT 0 NOT NULL,
    unchanged integer DEFAULT 0 NOT NULL,
    quarantined integer DEFAULT 0 NOT NULL,
    error text,
    retries integer DEFAULT 0 NOT NULL,
    rate_limit_wait_seconds double precision DEFAULT 0 NOT NULL,
    CONSTRAINT etl_runs_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text, 'csv'::text]))),
    CONSTRAINT etl_runs_status_check CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text])))
);

ALTER TABLE public.etl_runs OWNER TO kasparro_etl;

--
-- Name: etl_runs_run_id_seq; Type: SEQUENCE; Schema: public; Owner: kasparro_etl
--

ALTER TABLE public.etl_runs ALTER COLUMN run_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.etl_runs_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: etl_source_totals; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.etl_source_totals (
    source text NOT NULL,
    runs bigint DEFAULT 0 NOT NULL,
    failed_runs bigint DEFAULT 0 NOT NULL,
    processed bigint DEFAULT 0 NOT NULL,
    last_run bigint,
    last_success_at timestamp with time zone,
    last_failure_at timestamp with time zone,
    last_failed_run bigint,
    checkpoints bigint DEFAULT 0 NOT NULL,
    quarantined bigint DEFAULT 0 NOT NULL,
    records bigint DEFAULT 0 NOT NULL,
    inserted bigint DEFAULT 0 NOT NULL,
    updated bigint DEFAULT 0 NOT NULL,
    unchanged bigint DEFAULT 0 NOT NULL,
    run_quarantined bigint DEFAULT 0 NOT NULL,
    retries bigint DEFAULT 0 NOT NULL,
    rate_limit_wait_seconds double precision DEFAULT 0 NOT NULL,
    running_runs bigint DEFAULT 0 NOT NULL,
    last_finished_run bigint,
    drift_events bigint DEFAULT 0 NOT NULL
);

ALTER TABLE public.etl_source_totals OWNER TO kasparro_etl;

--
-- Name: market_counts_hourly; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.market_counts_hourly (
    bucket timestamp with time zone NOT NULL,
    source text NOT NULL,
    n bigint NOT NULL
)
WITH (fillfactor='50');

ALTER TABLE public.market_counts_hourly OWNER TO kasparro_etl;

--
-- Name: market_counts_monthly; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.market_counts_monthly (
    bucket timestamp with time zone NOT NULL,
    source text NOT NULL COLLATE pg_catalog."C",
    asset_id bigint NOT NULL,
    symbol text NOT NULL COLLATE pg_catalog."C",
    n bigint NOT NULL
);

ALTER TABLE public.market_counts_monthly OWNER TO kasparro_etl;

--
-- Name: market_records; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.market_records (
    observed_at timestamp with time zone NOT NULL,
    asset_id bigint NOT NULL,
    run_id bigint NOT NULL,
    ingested_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    rank integer,
    source text NOT NULL COLLATE pg_catalog."C",
    source_id text NOT NULL COLLATE pg_catalog."C",
    symbol text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL,
    price_usd numeric,
    market_cap_usd numeric,
    volume_24h_usd numeric,
    CONSTRAINT market_records_symbol_upper CHECK ((symbol = upper(symbol))),
    CONSTRAINT market_records_v5_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text, 'csv'::text])))
)
PARTITION BY RANGE (observed_at);

ALTER TABLE public.market_records OWNER TO kasparro_etl;

--
-- Name: quarantine; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.quarantine (
    id bigint NOT NULL,
    source text NOT NULL,
    stream text NOT NULL,
    locator text NOT NULL,
    raw text NOT NULL,
    reason text NOT NULL,
    run_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE public.quarantine OWNER TO kasparro_etl;

--
-- Name: quarantine_id_seq; Type: SEQUENCE; Schema: public; Owner: kasparro_etl
--

ALTER TABLE public.quarantine ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.quarantine_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: raw_api_pages; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.raw_api_pages (
    fetched_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    run_id bigint NOT NULL,
    page integer NOT NULL,
    source text NOT NULL COLLATE pg_catalog."C",
    sha256 bytea NOT NULL,
    body bytea,
    ids text[] NOT NULL,
    starts integer[] NOT NULL,
    lengths integer[] NOT NULL,
    skeleton text,
    numbers text,
    CONSTRAINT raw_api_pages_bytes CHECK (
CASE
    WHEN (body IS NULL) THEN ((skeleton IS NOT NULL) AND (numbers IS NOT NULL))
    ELSE ((skeleton IS NULL) AND (numbers IS NULL))
END),
    CONSTRAINT raw_api_pages_source_check CHECK ((source = ANY (ARRAY['coinpaprika'::text, 'coingecko'::text])))
)
PARTITION BY RANGE (fetched_at);
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN body SET COMPRESSION pglz;
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN ids SET COMPRESSION pglz;
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN starts SET COMPRESSION lz4;
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN lengths SET COMPRESSION lz4;
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN skeleton SET COMPRESSION pglz;
ALTER TABLE ONLY public.raw_api_pages ALTER COLUMN numbers SET COMPRESSION pglz;

ALTER TABLE public.raw_api_pages OWNER TO kasparro_etl;

--
-- Name: raw_api_records; Type: VIEW; Schema: public; Owner: kasparro_etl
--

CREATE VIEW public.raw_api_records AS
 SELECT p.source,
    r.source_id,
    p.run_id,
    p.fetched_at,
    p.page,
    r."position",
    r.raw
   FROM public.raw_api_pages p,
    LATERAL public.kasparro_page_records(p.body, p.skeleton, p.numbers, p.ids, p.starts, p.lengths) r(source_id, "position", raw);

ALTER TABLE public.raw_api_records OWNER TO kasparro_etl;

--
-- Name: raw_coingecko_v4; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.raw_coingecko_v4 (
    source_id text NOT NULL,
    sha256 bytea NOT NULL,
    payload jsonb NOT NULL,
    run_id bigint NOT NULL,
    fetched_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE public.raw_coingecko_v4 OWNER TO kasparro_etl;

--
-- Name: raw_coingecko; Type: VIEW; Schema: public; Owner: kasparro_etl
--

CREATE VIEW public.raw_coingecko AS
 SELECT raw_api_records.source_id,
    convert_from(raw_api_records.raw, 'UTF8'::name) AS payload,
    raw_api_records.run_id,
    raw_api_records.fetched_at
   FROM public.raw_api_records
  WHERE (raw_api_records.source = 'coingecko'::text)
UNION ALL
 SELECT raw_coingecko_v4.source_id,
    (raw_coingecko_v4.payload)::text AS payload,
    raw_coingecko_v4.run_id,
    raw_coingecko_v4.fetched_at
   FROM public.raw_coingecko_v4;

ALTER TABLE public.raw_coingecko OWNER TO kasparro_etl;

--
-- Name: raw_coinpaprika_v4; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.raw_coinpaprika_v4 (
    source_id text NOT NULL,
    sha256 bytea NOT NULL,
    payload jsonb NOT NULL,
    run_id bigint NOT NULL,
    fetched_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE public.raw_coinpaprika_v4 OWNER TO kasparro_etl;

--
-- Name: raw_coinpaprika; Type: VIEW; Schema: public; Owner: kasparro_etl
--

CREATE VIEW public.raw_coinpaprika AS
 SELECT raw_api_records.source_id,
    convert_from(raw_api_records.raw, 'UTF8'::name) AS payload,
    raw_api_records.run_id,
    raw_api_records.fetched_at
   FROM public.raw_api_records
  WHERE (raw_api_records.source = 'coinpaprika'::text)
UNION ALL
 SELECT raw_coinpaprika_v4.source_id,
    (raw_coinpaprika_v4.payload)::text AS payload,
    raw_coinpaprika_v4.run_id,
    raw_coinpaprika_v4.fetched_at
   FROM public.raw_coinpaprika_v4;

ALTER TABLE public.raw_coinpaprika OWNER TO kasparro_etl;

--
-- Name: raw_csv_chunks; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.raw_csv_chunks (
    stream text NOT NULL,
    first_line bigint NOT NULL,
    line_count integer NOT NULL,
    run_id bigint NOT NULL,
    fetched_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    body text NOT NULL
);
ALTER TABLE ONLY public.raw_csv_chunks ALTER COLUMN body SET COMPRESSION lz4;

ALTER TABLE public.raw_csv_chunks OWNER TO kasparro_etl;

--
-- Name: raw_csv_v4; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.raw_csv_v4 (
    stream text NOT NULL,
    line_no bigint NOT NULL,
    line text NOT NULL,
    sha256 bytea NOT NULL,
    run_id bigint NOT NULL,
    fetched_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

ALTER TABLE public.raw_csv_v4 OWNER TO kasparro_etl;

--
-- Name: raw_csv; Type: VIEW; Schema: public; Owner: kasparro_etl
--

CREATE VIEW public.raw_csv AS
 SELECT c.stream,
    ((c.first_line + l.ord) - 1) AS line_no,
    l.line,
    c.run_id,
    c.fetched_at
   FROM public.raw_csv_chunks c,
    LATERAL string_to_table(c.body, '
'::text) WITH ORDINALITY l(line, ord)
UNION ALL
 SELECT raw_csv_v4.stream,
    raw_csv_v4.line_no,
    raw_csv_v4.line,
    raw_csv_v4.run_id,
    raw_csv_v4.fetched_at
   FROM public.raw_csv_v4;

ALTER TABLE public.raw_csv OWNER TO kasparro_etl;

--
-- Name: schema_drift_events; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.schema_drift_events (
    id bigint NOT NULL,
    source text NOT NULL,
    run_id bigint NOT NULL,
    field text NOT NULL,
    kind text NOT NULL,
    matched_field text,
    confidence numeric(4,3),
    sample text,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT schema_drift_events_kind_check CHECK ((kind = ANY (ARRAY['added'::text, 'removed'::text, 'type_changed'::text, 'renamed'::text])))
);

ALTER TABLE public.schema_drift_events OWNER TO kasparro_etl;

--
-- Name: schema_drift_events_id_seq; Type: SEQUENCE; Schema: public; Owner: kasparro_etl
--

ALTER TABLE public.schema_drift_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.schema_drift_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.schema_migrations OWNER TO kasparro_etl;

--
-- Name: source_coins; Type: TABLE; Schema: public; Owner: kasparro_etl
--

CREATE TABLE public.source_coins (
    source text NOT NULL,
    id text NOT NULL COLLATE pg_catalog."C",
    symbol text NOT NULL,
    name text NOT NULL
);

ALTER TABLE public.source_coins OWNER TO kasparro_etl;

--
-- Name: asset_aliases asset_aliases_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.asset_aliases
    ADD CONSTRAINT asset_aliases_pkey PRIMARY KEY (alias_id);

--
-- Name: asset_overrides asset_overrides_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.asset_overrides
    ADD CONSTRAINT asset_overrides_pkey PRIMARY KEY (override_id);

--
-- Name: asset_sources asset_sources_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.asset_sources
    ADD CONSTRAINT asset_sources_pkey PRIMARY KEY (source, source_id);

--
-- Name: assets assets_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.assets
    ADD CONSTRAINT assets_pkey PRIMARY KEY (asset_id);

--
-- Name: coin_lists coin_lists_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.coin_lists
    ADD CONSTRAINT coin_lists_pkey PRIMARY KEY (source);

--
-- Name: data_version data_version_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.data_version
    ADD CONSTRAINT data_version_pkey PRIMARY KEY (singleton);

--
-- Name: etl_checkpoints etl_checkpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.etl_checkpoints
    ADD CONSTRAINT etl_checkpoints_pkey PRIMARY KEY (source, stream);

--
-- Name: etl_runs etl_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.etl_runs
    ADD CONSTRAINT etl_runs_pkey PRIMARY KEY (run_id);

--
-- Name: etl_source_totals etl_source_totals_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.etl_source_totals
    ADD CONSTRAINT etl_source_totals_pkey PRIMARY KEY (source);

--
-- Name: market_counts_hourly market_counts_hourly_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.market_counts_hourly
    ADD CONSTRAINT market_counts_hourly_pkey PRIMARY KEY (bucket, source);

--
-- Name: market_counts_monthly market_counts_monthly_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.market_counts_monthly
    ADD CONSTRAINT market_counts_monthly_pkey PRIMARY KEY (bucket, source, asset_id, symbol);

--
-- Name: quarantine quarantine_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_pkey PRIMARY KEY (id);

--
-- Name: quarantine quarantine_source_stream_locator_key; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_source_stream_locator_key UNIQUE (source, stream, locator);

--
-- Name: raw_coingecko_v4 raw_coingecko_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_coingecko_v4
    ADD CONSTRAINT raw_coingecko_pkey PRIMARY KEY (source_id, sha256);

--
-- Name: raw_coinpaprika_v4 raw_coinpaprika_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_coinpaprika_v4
    ADD CONSTRAINT raw_coinpaprika_pkey PRIMARY KEY (source_id, sha256);

--
-- Name: raw_csv_chunks raw_csv_chunks_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_csv_chunks
    ADD CONSTRAINT raw_csv_chunks_pkey PRIMARY KEY (stream, first_line);

--
-- Name: raw_csv_v4 raw_csv_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_csv_v4
    ADD CONSTRAINT raw_csv_pkey PRIMARY KEY (stream, line_no);

--
-- Name: schema_drift_events schema_drift_events_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.schema_drift_events
    ADD CONSTRAINT schema_drift_events_pkey PRIMARY KEY (id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: source_coins source_coins_pkey; Type: CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.source_coins
    ADD CONSTRAINT source_coins_pkey PRIMARY KEY (source, id);

--
-- Name: asset_aliases_asset; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX asset_aliases_asset ON public.asset_aliases USING btree (asset_id);

--
-- Name: asset_sources_asset; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX asset_sources_asset ON public.asset_sources USING btree (asset_id);

--
-- Name: assets_symbol; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX assets_symbol ON public.assets USING btree (symbol);

--
-- Name: etl_checkpoints_recent; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX etl_checkpoints_recent ON public.etl_checkpoints USING btree (source, updated_at DESC, stream);

--
-- Name: etl_runs_source_started; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX etl_runs_source_started ON public.etl_runs USING btree (source, run_id DESC);

--
-- Name: market_counts_monthly_asset; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX market_counts_monthly_asset ON public.market_counts_monthly USING btree (asset_id, bucket);

--
-- Name: market_counts_monthly_symbol; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX market_counts_monthly_symbol ON public.market_counts_monthly USING btree (symbol, bucket);

--
-- Name: market_records_by_asset; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX market_records_by_asset ON ONLY public.market_records USING btree (asset_id, observed_at);

--
-- Name: market_records_by_source; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX market_records_by_source ON ONLY public.market_records USING btree (source, observed_at);

--
-- Name: market_records_by_symbol; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX market_records_by_symbol ON ONLY public.market_records USING btree (symbol, observed_at);

--
-- Name: market_records_key; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE UNIQUE INDEX market_records_key ON ONLY public.market_records USING btree (observed_at, source DESC, source_id DESC);

--
-- Name: raw_api_pages_run; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX raw_api_pages_run ON ONLY public.raw_api_pages USING btree (source, run_id);

--
-- Name: raw_api_pages_sha; Type: INDEX; Schema: public; Owner: kasparro_etl
--

CREATE INDEX raw_api_pages_sha ON ONLY public.raw_api_pages USING btree (source, sha256);

--
-- Name: data_version data_version_announce; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER data_version_announce AFTER UPDATE ON public.data_version FOR EACH ROW EXECUTE FUNCTION public.kasparro_announce_version();

--
-- Name: etl_checkpoints etl_checkpoints_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_checkpoints_delete AFTER DELETE ON public.etl_checkpoints REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('checkpoints', '1');

--
-- Name: etl_checkpoints etl_checkpoints_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_checkpoints_insert AFTER INSERT ON public.etl_checkpoints REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('checkpoints', '1');

--
-- Name: etl_checkpoints etl_checkpoints_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_checkpoints_truncate AFTER TRUNCATE ON public.etl_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('checkpoints', '1');

--
-- Name: etl_checkpoints etl_checkpoints_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_checkpoints_update AFTER UPDATE ON public.etl_checkpoints REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('checkpoints', '1');

--
-- Name: etl_runs etl_runs_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_runs_delete AFTER DELETE ON public.etl_runs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_runs_totals();

--
-- Name: etl_runs etl_runs_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_runs_insert AFTER INSERT ON public.etl_runs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_runs_totals();

--
-- Name: etl_runs etl_runs_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_runs_truncate AFTER TRUNCATE ON public.etl_runs FOR EACH STATEMENT EXECUTE FUNCTION public.etl_runs_totals();

--
-- Name: etl_runs etl_runs_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER etl_runs_update AFTER UPDATE ON public.etl_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_runs_totals();

--
-- Name: market_records market_counts_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_delete AFTER DELETE ON public.market_records REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_counts_apply();

--
-- Name: market_counts_hourly market_counts_hourly_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_hourly_delete AFTER DELETE ON public.market_counts_hourly REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('records', 'n');

--
-- Name: market_counts_hourly market_counts_hourly_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_hourly_insert AFTER INSERT ON public.market_counts_hourly REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('records', 'n');

--
-- Name: market_counts_hourly market_counts_hourly_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_hourly_truncate AFTER TRUNCATE ON public.market_counts_hourly FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('records', 'n');

--
-- Name: market_counts_hourly market_counts_hourly_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_hourly_update AFTER UPDATE ON public.market_counts_hourly REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('records', 'n');

--
-- Name: market_records market_counts_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_insert AFTER INSERT ON public.market_records REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_counts_apply();

--
-- Name: market_records market_counts_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_counts_update AFTER UPDATE ON public.market_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_counts_apply();

--
-- Name: market_records market_records_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_records_truncate AFTER TRUNCATE ON public.market_records FOR EACH STATEMENT EXECUTE FUNCTION public.market_records_truncated();

--
-- Name: market_records market_records_version_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_records_version_delete AFTER DELETE ON public.market_records REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_records_changed();

--
-- Name: market_records market_records_version_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_records_version_insert AFTER INSERT ON public.market_records REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_records_changed();

--
-- Name: market_records market_records_version_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER market_records_version_update AFTER UPDATE ON public.market_records REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.market_records_changed();

--
-- Name: quarantine quarantine_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER quarantine_delete AFTER DELETE ON public.quarantine REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('quarantined', '1');

--
-- Name: quarantine quarantine_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER quarantine_insert AFTER INSERT ON public.quarantine REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('quarantined', '1');

--
-- Name: quarantine quarantine_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER quarantine_truncate AFTER TRUNCATE ON public.quarantine FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('quarantined', '1');

--
-- Name: quarantine quarantine_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER quarantine_update AFTER UPDATE ON public.quarantine REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('quarantined', '1');

--
-- Name: schema_drift_events schema_drift_events_delete; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER schema_drift_events_delete AFTER DELETE ON public.schema_drift_events REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('drift_events', '1');

--
-- Name: schema_drift_events schema_drift_events_insert; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER schema_drift_events_insert AFTER INSERT ON public.schema_drift_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('drift_events', '1');

--
-- Name: schema_drift_events schema_drift_events_truncate; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER schema_drift_events_truncate AFTER TRUNCATE ON public.schema_drift_events FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('drift_events', '1');

--
-- Name: schema_drift_events schema_drift_events_update; Type: TRIGGER; Schema: public; Owner: kasparro_etl
--

CREATE TRIGGER schema_drift_events_update AFTER UPDATE ON public.schema_drift_events REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.etl_source_totals_count('drift_events', '1');

--
-- Name: asset_sources asset_sources_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.asset_sources
    ADD CONSTRAINT asset_sources_asset_id_fkey FOREIGN KEY (asset_id) REFERENCES public.assets(asset_id);

--
-- Name: etl_checkpoints etl_checkpoints_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.etl_checkpoints
    ADD CONSTRAINT etl_checkpoints_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: quarantine quarantine_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: raw_coingecko_v4 raw_coingecko_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_coingecko_v4
    ADD CONSTRAINT raw_coingecko_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: raw_coinpaprika_v4 raw_coinpaprika_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_coinpaprika_v4
    ADD CONSTRAINT raw_coinpaprika_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: raw_csv_v4 raw_csv_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.raw_csv_v4
    ADD CONSTRAINT raw_csv_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: schema_drift_events schema_drift_events_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: kasparro_etl
--

ALTER TABLE ONLY public.schema_drift_events
    ADD CONSTRAINT schema_drift_events_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.etl_runs(run_id);

--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: pg_database_owner
--

GRANT USAGE ON SCHEMA public TO kasparro_api;

--
-- Name: TABLE asset_aliases; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.asset_aliases TO kasparro_api;

--
-- Name: TABLE asset_overrides; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.asset_overrides TO kasparro_api;

--
-- Name: TABLE asset_sources; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.asset_sources TO kasparro_api;

--
-- Name: TABLE assets; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.assets TO kasparro_api;

--
-- Name: TABLE coin_lists; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.coin_lists TO kasparro_api;

--
-- Name: TABLE data_version; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.data_version TO kasparro_api;

--
-- Name: TABLE etl_checkpoints; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.etl_checkpoints TO kasparro_api;

--
-- Name: TABLE etl_runs; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.etl_runs TO kasparro_api;

--
-- Name: TABLE etl_source_totals; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.etl_source_totals TO kasparro_api;

--
-- Name: TABLE market_counts_hourly; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.market_counts_hourly TO kasparro_api;

--
-- Name: TABLE market_counts_monthly; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.market_counts_monthly TO kasparro_api;

--
-- Name: TABLE market_records; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.market_records TO kasparro_api;

--
-- Name: TABLE quarantine; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.quarantine TO kasparro_api;

--
-- Name: TABLE raw_api_pages; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_api_pages TO kasparro_api;

--
-- Name: TABLE raw_api_records; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_api_records TO kasparro_api;

--
-- Name: TABLE raw_coingecko_v4; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_coingecko_v4 TO kasparro_api;

--
-- Name: TABLE raw_coingecko; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_coingecko TO kasparro_api;

--
-- Name: TABLE raw_coinpaprika_v4; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_coinpaprika_v4 TO kasparro_api;

--
-- Name: TABLE raw_coinpaprika; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_coinpaprika TO kasparro_api;

--
-- Name: TABLE raw_csv_chunks; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_csv_chunks TO kasparro_api;

--
-- Name: TABLE raw_csv_v4; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_csv_v4 TO kasparro_api;

--
-- Name: TABLE raw_csv; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.raw_csv TO kasparro_api;

--
-- Name: TABLE schema_drift_events; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.schema_drift_events TO kasparro_api;

--
-- Name: TABLE schema_migrations; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.schema_migrations TO kasparro_api;

--
-- Name: TABLE source_coins; Type: ACL; Schema: public; Owner: kasparro_etl
--

GRANT SELECT ON TABLE public.source_coins TO kasparro_api;

--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: kasparro_etl
--

ALTER DEFAULT PRIVILEGES FOR ROLE kasparro_etl IN SCHEMA public GRANT SELECT ON TABLES  TO kasparro_api;
