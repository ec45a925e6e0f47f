// Creating the partitions a write needs, before (never inside) the transaction that writes it.
import MarketData
import Store

/// Creates the monthly (or, for old years, yearly) partitions of `market_records` and
/// `raw_api_pages` ahead of the transactions that write into them, and remembers which months
/// it has seen, so a batch asks the database only for months new to this process.
///
/// Creation runs outside the data transaction: it attaches the new table (SHARE UPDATE EXCLUSIVE
/// on the parent, which readers and writers never wait for) and commits at once, so a batch's
/// transaction never holds a lock that could stall the API.
final class Partitions {
    private var known: Set<String> = []

    /// Years that ended more than a year before now go into one partition per year.
    private static let yearlyBefore = "(date_trunc('year', now() AT TIME ZONE 'UTC') - interval '1 year') AT TIME ZONE 'UTC'"

    /// Ensures `market_records` has a partition for every month of `instants`.
    func ensureMarket(_ instants: [Timestamp], connection: Connection) throws {
        try ensure(table: "market_records", yearly: true, months: instants.map(\.monthStart), connection: connection)
    }

    /// Ensures `raw_api_pages` has this month's and next month's partitions (a page is stamped
    /// with the clock at insert, which may already be past a month boundary).
    func ensureRawPages(now: Timestamp, connection: Connection) throws {
        try ensure(table: "raw_api_pages", yearly: false, months: [now.monthStart, now.months(from: 1)], connection: connection)
    }

    private func ensure(table: String, yearly: Bool, months: [Timestamp], connection: Connection) throws {
        var missing: [Timestamp] = []
        for month in Set(months) where !known.contains(table + month.description) { missing.append(month) }
        guard !missing.isEmpty else { return }
        try connection.query("""
            SELECT kasparro_partition($1::text::regclass, $1::text, m, \(yearly ? Partitions.yearlyBefore : "NULL"))
            FROM unnest($2::timestamptz[]) AS m ORDER BY m
            """, [table, sqlArrayLiteral(missing.sorted().map(\.description))])
        for month in missing { known.insert(table + month.description) }
    }
}

/// Vacuums each closed partition of `market_records` once more after its last rows arrived.
///
/// Autovacuum vacuums a partition every 10,000 inserted rows (migration 18), so up to 9,999 rows
/// of a month that has ended — its last hours, or late CSV rows — would never become all-visible,
/// and every index-only count over them would fetch heap pages. After each run the ETL vacuums
/// every partition whose range has ended and that holds rows inserted since its last vacuum (so
/// each month once, and again only when late rows land in it), and analyzes it: the planner's
/// statistics of a closed month are then final. Not `FREEZE`: freezing a partition writes about its
/// size of WAL to every standby (docs/performance.md, "Autovacuum"), and at one transaction per
/// batch the ETL reaches `autovacuum_freeze_max_age` only after centuries. `TRUNCATE false`: an
/// insert-only partition has no empty pages at its end to give back, and the truncation's ACCESS
/// EXCLUSIVE lock, replayed on every standby, would wait for (or cancel) the reads there.
public struct ClosedPartitions {
    private let connection: Connection

    /// Uses the ETL's connection (outside any transaction: `VACUUM` cannot run in one).
    public init(connection: Connection) {
        self.connection = connection
    }

    /// The partitions vacuumed, oldest first.
    @discardableResult
    public func vacuum(now: Timestamp) throws -> [String] {
        // This session's own inserts reach the statistics views at its next transaction's end.
        try connection.execute("SELECT pg_stat_force_next_flush()")
        let partitions: [String] = try connection.query("""
            SELECT p.partition FROM kasparro_partitions('market_records') p
            JOIN pg_stat_user_tables s ON s.relid = p.partition::regclass
            WHERE p.hi <= $1::timestamptz AND s.n_ins_since_vacuum > 0
            ORDER BY p.lo
            """, [now.description]).rows.map { row throws(DatabaseError) in try row.get("partition") }
        for partition in partitions {
            try connection.execute("VACUUM (ANALYZE, TRUNCATE false) \(quoteIdentifier(partition))")
        }
        return partitions
    }
}
