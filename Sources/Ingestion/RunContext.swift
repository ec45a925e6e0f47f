// One source's run: its etl_runs row, its counters, and the batch write that commits data with its checkpoint.
import Foundation
import Logging
import MarketData
import Store

/// The run-scoped state handed to a source.
final class RunContext {
    let source: Source
    let runID: Int64
    let connection: Connection
    let logger: Logger
    let now: Timestamp
    private let resolver: AssetResolver
    /// Partitions created (or found) by this run.
    let partitions = Partitions()
    private let failAfter: Int?
    private(set) var counts = RunCounts()
    /// A live progress line, when stderr is a terminal.
    var progress: Progress?
    /// HTTP requests retried during the run.
    var retries = 0
    /// Seconds spent waiting for the client-side rate limit.
    var rateLimitWaitSeconds = 0.0

    /// See `ETLConfig.pauseBeforeCommitMS`.
    var pauseBeforeCommitMS = 0

    init(source: Source, runID: Int64, connection: Connection, logger: Logger, failAfter: Int?, now: Timestamp) throws {
        self.source = source
        self.runID = runID
        self.connection = connection
        self.logger = logger
        self.failAfter = failAfter
        self.now = now
        self.resolver = AssetResolver()
    }

    /// Every stored checkpoint of this source, by stream, in one query (a CSV directory may hold
    /// thousands of files, and the timer runs every 15 minutes).
    func checkpoints() throws -> [String: Checkpoint] {
        var found: [String: Checkpoint] = [:]
        for row in try connection.query(
            "SELECT stream, position, line_no, detail::text AS detail FROM etl_checkpoints WHERE source = $1",
            [source.rawValue]).rows {
            let stream: String = try row.get("stream")
            found[stream] = Checkpoint(stream: stream, position: try row.get("position"), lineNo: try row.get("line_no"),
                                       detail: try row.get("detail"))
        }
        return found
    }

    /// The stored checkpoint of a stream, if any.
    func checkpoint(stream: String) throws -> Checkpoint? {
        let row = try connection.query(
            "SELECT position, line_no, detail::text AS detail FROM etl_checkpoints WHERE source = $1 AND stream = $2",
            [source.rawValue, stream]).rows.first
        guard let row else { return nil }
        return Checkpoint(stream: stream, position: try row.get("position"), lineNo: try row.get("line_no"),
                          detail: try row.get("detail"))
    }

    /// Writes one batch in one transaction: raw payloads (via `storeRaw`), asset mappings,
    /// market rows (insert or update when values changed), quarantine rows, the checkpoint and
    /// the run's counters. Either all of it commits or none of it does.
    func writeBatch(records: [MarketRecord], quarantined: [QuarantinedRecord], fetched: Int,
                    checkpoint: Checkpoint?, storeRaw: (Connection) throws -> Void) throws {
        try writeBatch(records: RecordBatch(records), quarantined: quarantined, fetched: fetched,
                       checkpoints: checkpoint.map { [$0] } ?? [], storeRaw: storeRaw)
    }

    /// `writeBatch` for a batch that advances several streams at once (each stream's checkpoint
    /// commits with the rows read from it), its records already prepared (`RecordBatch`).
    func writeBatch(records: RecordBatch, quarantined: [QuarantinedRecord], fetched: Int,
                    checkpoints: [Checkpoint], storeRaw: (Connection) throws -> Void) throws {
        if let failAfter, counts.fetched + fetched > failAfter {
            throw InjectedFailure(after: failAfter)
        }
        var batch = counts
        batch.fetched += fetched
        var version: Int64?
        try partitions.ensureMarket(records.records.map(\.observedAt), connection: connection)
        do {
            try connection.transaction {
                try storeRaw(connection)
                let changed = try upsert(records)
                batch.inserted += changed.inserted
                batch.updated += changed.updated
                batch.unchanged += records.received - changed.inserted - changed.updated
                batch.quarantined += try storeQuarantine(quarantined)
                if !checkpoints.isEmpty {
                    // Every stream of the batch in one statement (a CSV batch advances 16 files).
                    try connection.queryPrepared("""
                        INSERT INTO etl_checkpoints (source, stream, position, line_no, detail, run_id, updated_at)
                        SELECT $1, u.stream, u.position, u.line_no, u.detail::jsonb, $2, clock_timestamp()
                        FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[]) AS u(stream, position, line_no, detail)
                        ON CONFLICT (source, stream) DO UPDATE SET position = EXCLUDED.position,
                          line_no = EXCLUDED.line_no, detail = EXCLUDED.detail, run_id = EXCLUDED.run_id,
                          updated_at = EXCLUDED.updated_at
                        """, [source.rawValue, String(runID), sqlArrayLiteral(checkpoints.map(\.stream)),
                              sqlArrayLiteral(checkpoints.map { String($0.position) }),
                              sqlArrayLiteral(checkpoints.map { String($0.lineNo) }), sqlArrayLiteral(checkpoints.map(\.detail))])
                }
                if changed.inserted + changed.updated > 0 {
                    version = try connection.query("SELECT kasparro_advance_version() AS version")
                        .single().get("version")
                }
                try connection.query("""
                    UPDATE etl_runs SET fetched = $2, inserted = $3, updated = $4, unchanged = $5, quarantined = $6
                    WHERE run_id = $1
                    """, [String(runID), String(batch.fetched), String(batch.inserted), String(batch.updated),
                          String(batch.unchanged), String(batch.quarantined)])
                if pauseBeforeCommitMS > 0 {
                    logger.warning("batch written, pausing before COMMIT (ETL_PAUSE_BEFORE_COMMIT_MS)",
                                   metadata: ["fetched_after_commit": "\(batch.fetched)"])
                    Thread.sleep(forTimeInterval: Double(pauseBeforeCommitMS) / 1000)
                }
            }
        } catch {
            resolver.rollback()
            throw error
        }
        resolver.commit()
        // COMMIT has returned: from here on the batch is served (`make bench` times this line).
        if let version {
            logger.debug("batch committed", metadata: ["data_version": "\(version)", "inserted": "\(batch.inserted)",
                                                       "updated": "\(batch.updated)"])
        }
        counts = batch
        progress?.update(counts)
    }

    /// Counts records of a snapshot that was already committed in full by an earlier run.
    func countUnchanged(_ records: Int) {
        counts.fetched += records
        counts.unchanged += records
    }

    private static let columns = """
        INSERT INTO market_records AS m (source, source_id, observed_at, asset_id, symbol, name,
                                         price_usd, market_cap_usd, volume_24h_usd, rank, run_id)
        SELECT $1, u.source_id, u.observed_at, u.asset_id, u.symbol, u.name, u.price, u.cap, u.volume, u.rank, $2
        FROM unnest($3::text[], $4::timestamptz[], $5::bigint[], $6::text[], $7::text[],
                    $8::numeric[], $9::numeric[], $10::numeric[], $11::int[])
             AS u(source_id, observed_at, asset_id, symbol, name, price, cap, volume, rank)
        """
    private static let upsertSQL = columns + """

        ON CONFLICT (source, source_id, observed_at) DO UPDATE SET
          price_usd = EXCLUDED.price_usd, market_cap_usd = EXCLUDED.market_cap_usd,
          volume_24h_usd = EXCLUDED.volume_24h_usd, rank = EXCLUDED.rank, symbol = EXCLUDED.symbol,
          name = EXCLUDED.name, run_id = EXCLUDED.run_id, ingested_at = clock_timestamp()
        WHERE (m.price_usd, m.market_cap_usd, m.volume_24h_usd, m.rank, m.symbol, m.name)
              IS DISTINCT FROM (EXCLUDED.price_usd, EXCLUDED.market_cap_usd, EXCLUDED.volume_24h_usd,
                                EXCLUDED.rank, EXCLUDED.symbol, EXCLUDED.name)
        """

    /// Whether a batch is first tried as a plain INSERT (see `upsert`).
    var rowsAreUsuallyNew = false

    /// Inserts new rows and updates changed ones in one statement. When `rowsAreUsuallyNew` (a
    /// backfill reading past its checkpoint), a plain INSERT is tried first under a savepoint: it
    /// skips ON CONFLICT's separate probe of the key for every row, and a batch that does meet an
    /// existing key (a file read again) is rolled back to the savepoint and upserted instead.
    private func upsert(_ batch: RecordBatch) throws -> (inserted: Int, updated: Int) {
        guard !batch.records.isEmpty else { return (0, 0) }
        let assetIDs = try resolver.assetIDs(for: batch.records, connection: connection).map { String($0) }
        let params: [String?] = [source.rawValue, String(runID), batch.sourceIDs, batch.observedAts,
                                 sqlArrayLiteral(assetIDs)] + batch.values
        let inserted = rowsAreUsuallyNew ? try plainInsert(params) : false
        // The rollup triggers count what the statement inserted and updated (RETURNING cannot
        // tell them apart on a partitioned table: it has no xmax).
        if !inserted { try connection.queryPrepared(RunContext.upsertSQL, params) }
        let counted = try connection.queryPrepared("""
            SELECT coalesce(nullif(current_setting('kasparro.inserted', true), ''), '0')::bigint AS inserted,
                   coalesce(nullif(current_setting('kasparro.updated', true), ''), '0')::bigint AS updated
            """).single()
        return (Int(try counted.get("inserted", as: Int64.self)), Int(try counted.get("updated", as: Int64.self)))
    }

    /// The plain INSERT of `upsert`, under a savepoint; false when a key already existed.
    private func plainInsert(_ params: [String?]) throws -> Bool {
        try connection.execute("SAVEPOINT new_rows")
        let outcome = Result { () throws(DatabaseError) -> QueryResult in try connection.queryPrepared(RunContext.columns, params) }
        switch outcome {
        case .success:
            try connection.execute("RELEASE SAVEPOINT new_rows")
            return true
        case .failure(let error) where error.sqlState == SQLState.uniqueViolation:
            try connection.execute("ROLLBACK TO SAVEPOINT new_rows")
            return false
        case .failure(let error):
            throw error
        }
    }

    private func storeQuarantine(_ items: [QuarantinedRecord]) throws -> Int {
        guard !items.isEmpty else { return 0 }
        for item in items {
            logger.warning("record quarantined", metadata: ["locator": "\(item.locator)", "reason": "\(item.reason)"])
        }
        return try connection.query("""
            INSERT INTO quarantine (source, stream, locator, raw, reason, run_id)
            SELECT $1, u.stream, u.locator, u.raw, u.reason, $2
            FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS u(stream, locator, raw, reason)
            ON CONFLICT (source, stream, locator) DO UPDATE SET raw = EXCLUDED.raw, reason = EXCLUDED.reason,
              run_id = EXCLUDED.run_id, created_at = clock_timestamp()
            """, [source.rawValue, String(runID),
                  sqlArrayLiteral(items.map(\.stream)),
                  sqlArrayLiteral(items.map(\.locator)),
                  sqlArrayLiteral(items.map { $0.raw.replacingNULs() }),
                  sqlArrayLiteral(items.map(\.reason.description))]).affectedRows
    }
}
