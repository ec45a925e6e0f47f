// Migration 6: announce each data version (NOTIFY at commit). Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v006 = Migration(version: 6, name: "announce each data version (NOTIFY at commit)", sql: #"""
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
    """#)
}
