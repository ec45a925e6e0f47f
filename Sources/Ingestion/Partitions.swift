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
