// Migration 12: raw API pages kept as a skeleton and its numbers. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v012 = Migration(version: 12, name: "raw API pages kept as a skeleton and its numbers", sql: #"""
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
    """#)
}
