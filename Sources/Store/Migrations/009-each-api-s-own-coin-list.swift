// Migration 9: each API's own coin list, fetched at most once a day. Released: never edit it (MigrationChecksumTests holds its bytes).

extension Migrations {
    static let v009 = Migration(version: 9, name: "each API's own coin list, fetched at most once a day", sql: #"""
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
    """#)
}
