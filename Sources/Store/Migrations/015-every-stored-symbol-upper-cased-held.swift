// Migration 15: every stored symbol upper-cased, held by a constraint. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v015 = Migration(version: 15, name: "every stored symbol upper-cased, held by a constraint", sql: #"""
    -- The ETL has always stored a row's ticker upper-cased (Swift's `uppercased()` leaves no
    -- ASCII lower-case letter, and `upper()` under the column's C collation changes nothing
    -- else), so `upper(symbol) = symbol` on every row it wrote. Migration 16 indexes `symbol`
    -- as stored, which answers a symbol filter only while that holds: a row stored otherwise
    -- (by hand) is mended here, and the constraint refuses any from now on. Its check of the
    -- rows already stored is migration 16's (VALIDATE takes a lock that lets readers and
    -- writers go on; ADD takes one that stops readers, so it comes last and holds it briefly).
    UPDATE market_records SET symbol = upper(symbol) WHERE symbol <> upper(symbol);
    ALTER TABLE market_records ADD CONSTRAINT market_records_symbol_upper CHECK (symbol = upper(symbol)) NOT VALID;
    """#)
}
