// Migration 13: room in the hourly rollup's pages for its updates. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v013 = Migration(version: 13, name: "room in the hourly rollup's pages for its updates", sql: #"""
    -- A bulk load updates each hourly bucket once per batch. With full pages a tenth of those
    -- updates moved the row to another page, and the table grew (a 1,000,000-row load: 45 pages
    -- for 1,000 rows; 30,000,000: 208 for 3,203), which /stats reads whole. Half-full pages keep
    -- the updates in their page (HOT: 99.9% instead of 90%; 14 pages). New pages only.
    ALTER TABLE market_counts_hourly SET (fillfactor = 50);
    """#)
}
