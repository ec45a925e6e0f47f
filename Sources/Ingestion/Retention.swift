// Retention: whole partitions dropped once they are older than the settings allow.
import Foundation
import Logging
import MarketData
import Store
import Support

/// How many months of market records and of raw API pages to keep (nil: everything, the default).
///
/// A month counts once it is over: with 12, on 2026-11-23 partitions that end on or before
/// 2025-11-01 are dropped. Raw pages are kept at least as long as market records, because a
/// record observed in a month may have been fetched in that month or any later one: dropping
/// raw months the market records still cover would lose the payload behind a served record.
public struct RetentionPolicy: Sendable, Equatable {
    /// Months of market records (by `observed_at`).
    public let marketMonths: Int?
    /// Months of raw API pages (by `fetched_at`); never fewer than `marketMonths`.
    public let rawMonths: Int?

    /// Checks the combination.
    public init(marketMonths: Int?, rawMonths: Int?) throws(SettingError) {
        if let rawMonths {
            guard let marketMonths else {
                throw SettingError("RETENTION_RAW_MONTHS=\(rawMonths) needs RETENTION_MARKET_MONTHS ≤ \(rawMonths): raw payloads behind records still served are never dropped, and without RETENTION_MARKET_MONTHS every record is kept")
            }
            guard marketMonths <= rawMonths else {
                throw SettingError("RETENTION_RAW_MONTHS=\(rawMonths) is shorter than RETENTION_MARKET_MONTHS=\(marketMonths): raw payloads behind records still served are never dropped; set RETENTION_RAW_MONTHS ≥ \(marketMonths)")
            }
        }
        self.marketMonths = marketMonths
        self.rawMonths = rawMonths
    }

    /// Whether anything is ever dropped.
    public var isActive: Bool { marketMonths != nil }
}

/// Applies a `RetentionPolicy` by dropping whole partitions, never by deleting rows.
public struct Retention {
    private let connection: Connection
    private let logger: Logger
    private let policy: RetentionPolicy

    /// A partition dropped (or, in a dry run, that would be).
    public struct Dropped: Sendable, Equatable {
        /// `market_records` or `raw_api_pages`.
        public let table: String
        /// The partition.
        public let partition: String
        /// Its bounds.
        public let from: Timestamp, to: Timestamp
        /// Market records it held (from the rollup), nil for raw pages.
        public let rows: Int64?
    }

    /// Uses the ETL's connection.
    public init(connection: Connection, logger: Logger, policy: RetentionPolicy) {
        self.connection = connection
        self.logger = logger
        self.policy = policy
    }

    /// Drops every partition wholly older than the policy keeps, each in its own short
    /// transaction (the rollup rows of its months go in the same one, so totals stay exact).
    /// The drop needs a brief ACCESS EXCLUSIVE lock on the parent: it waits at most
    /// `lockTimeoutMS` at a time (so readers never queue behind it for long) and retries.
    @discardableResult
    public func apply(now: Timestamp, dryRun: Bool = false, lockTimeoutMS: Int = 1000, attempts: Int = 20) throws -> [Dropped] {
        guard let marketMonths = policy.marketMonths else { return [] }
        let marketCutoff = now.months(from: -marketMonths)
        var dropped: [Dropped] = []
        for (partition, from, to) in try partitions(of: "market_records") where to <= marketCutoff {
            let rows: Int64 = try connection.query("""
                SELECT coalesce(sum(n), 0)::bigint AS n FROM market_counts_hourly
                WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz
                """, [from.description, to.description]).single().get("n")
            if !dryRun {
                try drop(partition, of: "market_records", lockTimeoutMS: lockTimeoutMS, attempts: attempts, alsoRun: [
                    ("DELETE FROM market_counts_hourly WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz", [from.description, to.description]),
                    ("DELETE FROM market_counts_monthly WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz", [from.description, to.description]),
                    ("SELECT kasparro_advance_version()", []),
                ])
            }
            dropped.append(Dropped(table: "market_records", partition: partition, from: from, to: to, rows: rows))
        }
        if let rawMonths = policy.rawMonths {
            // rawMonths ≥ marketMonths (checked), so this cutoff is never later than the market one.
            let rawCutoff = now.months(from: -rawMonths)
            for (partition, from, to) in try partitions(of: "raw_api_pages") where to <= rawCutoff {
                if !dryRun {
                    try drop(partition, of: "raw_api_pages", lockTimeoutMS: lockTimeoutMS, attempts: attempts, alsoRun: [])
                }
                dropped.append(Dropped(table: "raw_api_pages", partition: partition, from: from, to: to, rows: nil))
            }
        }
        for item in dropped {
            logger.notice(dryRun ? "retention would drop partition" : "retention dropped partition", metadata: [
                "table": "\(item.table)", "partition": "\(item.partition)", "from": "\(item.from)", "to": "\(item.to)",
                "rows": "\(item.rows.map(String.init) ?? "")"])
        }
        return dropped
    }

    private func partitions(of table: String) throws -> [(String, Timestamp, Timestamp)] {
        try connection.query("""
            SELECT partition, (extract(epoch FROM lo) * 1000000)::bigint AS lo, (extract(epoch FROM hi) * 1000000)::bigint AS hi
            FROM kasparro_partitions($1::regclass)
            """, [table]).rows.map { row throws(DatabaseError) in
            (try row.get("partition"), Timestamp(microseconds: try row.get("lo")), Timestamp(microseconds: try row.get("hi")))
        }
    }

    private func drop(_ partition: String, of table: String, lockTimeoutMS: Int, attempts: Int,
                      alsoRun statements: [(String, [String?])]) throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try connection.transaction {
                    try connection.execute("SET LOCAL lock_timeout = \(lockTimeoutMS)")
                    try connection.execute("ALTER TABLE \(table) DETACH PARTITION \(quoteIdentifier(partition))")
                    for (sql, params) in statements { try connection.query(sql, params) }
                    try connection.execute("DROP TABLE \(quoteIdentifier(partition))")
                }
                return
            } catch let error as DatabaseError where error.sqlState == SQLState.lockNotAvailable && attempt < attempts {
                logger.warning("retention waited too long for a lock; retrying", metadata: [
                    "partition": "\(partition)", "attempt": "\(attempt)"])
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }
}

/// A SQL identifier, double-quoted.
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
