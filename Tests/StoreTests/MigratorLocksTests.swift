// Which tables a migration's SQL changes, and the lock the Migrator takes on each before its work.
@testable import Store
import XCTest

final class MigratorLocksTests: XCTestCase {
    func testTheStrongestLockOfEachTableInOrderOfAppearance() {
        let sql = """
            -- ALTER TABLE in_a_comment ADD COLUMN x int;
            CREATE INDEX market_records_symbol ON market_records (symbol);
            ALTER TABLE etl_source_totals ADD COLUMN inserted bigint NOT NULL DEFAULT 0;
            CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN EXECUTE 'ALTER TABLE in_a_body ADD COLUMN y int'; RETURN NULL; END $$;
            CREATE TRIGGER t AFTER INSERT ON schema_drift_events
              REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION f();
            ALTER TABLE ONLY market_records ADD CONSTRAINT c CHECK (symbol = upper(symbol)) NOT VALID;
            CREATE UNIQUE INDEX IF NOT EXISTS u ON ONLY quarantine (id);
            DROP TABLE IF EXISTS old_things;
            """
        let locks = Migrator.locks(of: sql).map { "\($0.table) \($0.mode)" }
        XCTAssertEqual(locks, ["market_records ACCESS EXCLUSIVE", "etl_source_totals ACCESS EXCLUSIVE",
                               "schema_drift_events SHARE ROW EXCLUSIVE", "quarantine SHARE", "old_things ACCESS EXCLUSIVE"])
    }

    func testEveryReleasedMigrationNamesItsTables() {
        // Migration 17 changes etl_source_totals and adds triggers on schema_drift_events.
        let seventeen = Migrations.all.first { $0.version == 17 }!
        let locks = Dictionary(uniqueKeysWithValues: Migrator.locks(of: seventeen.sql).map { ($0.table, $0.mode) })
        XCTAssertEqual(locks["etl_source_totals"], "ACCESS EXCLUSIVE")
        XCTAssertEqual(locks["schema_drift_events"], "SHARE ROW EXCLUSIVE")
    }
}
