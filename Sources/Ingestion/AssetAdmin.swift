// The operator's word on identity: merge two assets, split a mapping off, list what is uncertain.
import Logging
import MarketData
import Store
import Support

/// An operator's command could not be carried out; nothing was changed.
public struct AssetAdminError: Error, CustomStringConvertible {
    /// What was wrong, for the operator.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Merges and splits canonical assets on an operator's word, each in one transaction that moves
/// the affected market records (the rollups follow through their triggers, so totals stay exact),
/// records the override with who, when and why, and advances `data_version` (so every responder
/// drops its cached pages). Later ETL runs never change an existing mapping, so an override
/// stays; an operator's merge may put two ids of one source in one asset, which the automatic
/// rule never does.
public struct AssetAdmin {
    private let connection: Connection
    private let logger: Logger

    /// Uses `connection` (the ETL role).
    public init(connection: Connection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// What a merge or split did.
    public struct Outcome: Sendable {
        /// The override's id in `asset_overrides`.
        public let overrideID: Int64
        /// Market records moved to another asset.
        public let rowsMoved: Int64
        /// merge: the asset kept; split: the new asset.
        public let assetID: Int64
        /// merge: the asset merged away; split: the asset left.
        public let otherID: Int64
    }

    /// Moves every mapping and record of `other` to `keep`; `other` stays as an alias of `keep`.
    public func merge(keep: Int64, other: Int64, operator name: String, reason: String) throws -> Outcome {
        try check(operator: name, reason: reason)
        guard keep != other else { throw AssetAdminError("cannot merge asset \(keep) into itself") }
        return try exclusively {
            try connection.transaction {
                for id in [keep, other] { try requireLive(id) }
                try connection.query("""
                    UPDATE asset_sources SET asset_id = $1, match_method = 'operator', match_confidence = 1
                    WHERE asset_id = $2
                    """, [String(keep), String(other)])
                let moved = try connection.query("UPDATE market_records SET asset_id = $1 WHERE asset_id = $2",
                                                 [String(keep), String(other)]).affectedRows
                // Aliases of the merged-away asset follow it; it becomes one itself.
                try connection.query("UPDATE asset_aliases SET asset_id = $1 WHERE asset_id = $2", [String(keep), String(other)])
                try connection.query("INSERT INTO asset_aliases (alias_id, asset_id) VALUES ($1, $2)", [String(other), String(keep)])
                let outcome = try record(kind: "merge", asset: keep, other: other, source: nil, sourceID: nil,
                                         moved: Int64(moved), operator: name, reason: reason)
                logger.notice("assets merged by an operator", metadata: [
                    "override_id": "\(outcome.overrideID)", "keep": "\(keep)", "other": "\(other)",
                    "rows_moved": "\(moved)", "operator": "\(name)", "reason": "\(reason)"])
                return outcome
            }
        }
    }

    /// Moves one source coin's mapping and records to a new asset of its own.
    public func split(source: Source, sourceID: String, operator name: String, reason: String) throws -> Outcome {
        try check(operator: name, reason: reason)
        return try exclusively {
            try connection.transaction {
                let rows = try connection.query("""
                    SELECT s.asset_id, s.symbol, s.name, (SELECT count(*) FROM asset_sources o WHERE o.asset_id = s.asset_id) AS mappings
                    FROM asset_sources s WHERE s.source = $1 AND s.source_id = $2 FOR UPDATE
                    """, [source.rawValue, sourceID]).rows
                guard let row = rows.first else {
                    throw AssetAdminError("no mapping for \(source.rawValue) \(sourceID) (see kasparro-etl assets list)")
                }
                let from: Int64 = try row.get("asset_id")
                guard try row.get("mappings", as: Int64.self) > 1 else {
                    throw AssetAdminError("\(source.rawValue) \(sourceID) is the only mapping of asset \(from): there is nothing to split it from")
                }
                let fresh: Int64 = try connection.query(
                    "INSERT INTO assets (symbol, name) VALUES ($1, $2) RETURNING asset_id",
                    [try row.get("symbol", as: String.self), try row.get("name", as: String.self)]).single().get("asset_id")
                try connection.query("""
                    UPDATE asset_sources SET asset_id = $3, match_method = 'operator', match_confidence = 1
                    WHERE source = $1 AND source_id = $2
                    """, [source.rawValue, sourceID, String(fresh)])
                let moved = try connection.query(
                    "UPDATE market_records SET asset_id = $3 WHERE source = $1 AND source_id = $2 AND asset_id = $4",
                    [source.rawValue, sourceID, String(fresh), String(from)]).affectedRows
                let outcome = try record(kind: "split", asset: fresh, other: from, source: source.rawValue, sourceID: sourceID,
                                         moved: Int64(moved), operator: name, reason: reason)
                logger.notice("mapping split off by an operator", metadata: [
                    "override_id": "\(outcome.overrideID)", "source": "\(source.rawValue)", "source_id": "\(sourceID)",
                    "from": "\(from)", "new_asset": "\(fresh)", "rows_moved": "\(moved)", "operator": "\(name)",
                    "reason": "\(reason)"])
                return outcome
            }
        }
    }

    /// One asset (or the asset an alias was merged into): its mappings, each with its method,
    /// confidence, supply and evidence, and the aliases that answer for it.
    public func show(_ id: Int64) throws -> [String] {
        let asset = try connection.query("""
            SELECT a.asset_id, a.symbol, a.name, x.asset_id AS merged_into
            FROM assets a LEFT JOIN asset_aliases x ON x.alias_id = a.asset_id WHERE a.asset_id = $1
            """, [String(id)]).rows
        guard let row = asset.first else { throw AssetAdminError("no asset \(id)") }
        if let into: Int64 = try row.optional("merged_into") {
            return ["asset \(id) was merged into asset \(into) (an alias: /data?asset_id=\(id) answers with \(into)'s rows)"]
                + (try show(into))
        }
        var lines = ["asset \(id): \(try row.get("symbol", as: String.self)) \(try row.get("name", as: String.self))"]
        let mappings = try connection.query("""
            SELECT source, source_id, symbol, name, match_method, match_confidence::float8 AS confidence,
                   max_supply, total_supply, circulating_supply, coalesce(evidence::text, '[]') AS evidence,
                   (SELECT count(*) FROM market_records m WHERE m.asset_id = s.asset_id AND m.source = s.source
                      AND m.source_id = s.source_id) AS records
            FROM asset_sources s WHERE asset_id = $1 ORDER BY source, source_id
            """, [String(id)]).rows
        for mapping in mappings {
            func figure(_ column: String) throws -> String { (try mapping.optional(column, as: Double.self)).map { String($0) } ?? "?" }
            lines.append("  \(try mapping.get("source", as: String.self)) \(try mapping.get("source_id", as: String.self)) "
                + "(\(try mapping.get("symbol", as: String.self)), \(try mapping.get("name", as: String.self))): "
                + "\(try mapping.get("match_method", as: String.self)) \(try mapping.get("confidence", as: Double.self)), "
                + "\(try mapping.get("records", as: Int64.self)) records, supply max \(try figure("max_supply")) "
                + "total \(try figure("total_supply")) circulating \(try figure("circulating_supply")); "
                + "evidence \(try mapping.get("evidence", as: String.self))")
        }
        let aliases = try connection.query("SELECT alias_id FROM asset_aliases WHERE asset_id = $1 ORDER BY 1", [String(id)]).rows
            .map { row throws in String(try row.get("alias_id", as: Int64.self)) }
        if !aliases.isEmpty { lines.append("  aliases: \(aliases.joined(separator: ", "))") }
        return lines
    }

    /// Every override, oldest first, as lines for a terminal.
    public func overrides() throws -> [String] {
        try connection.query("""
            SELECT override_id, kind, asset_id, other_id, source, source_id, rows_moved, operator, reason,
                   rfc3339(created_at) AS at
            FROM asset_overrides ORDER BY override_id
            """).rows.map { row throws in
            let kind: String = try row.get("kind")
            let what = kind == "merge"
                ? "merge: asset \(try row.get("other_id", as: Int64.self)) into \(try row.get("asset_id", as: Int64.self))"
                : "split: \(try row.get("source", as: String.self)) \(try row.get("source_id", as: String.self)) from asset \(try row.get("other_id", as: Int64.self)) to new asset \(try row.get("asset_id", as: Int64.self))"
            return "#\(try row.get("override_id", as: Int64.self)) \(try row.get("at", as: String.self)) by \(try row.get("operator", as: String.self)): "
                + "\(what), \(try row.get("rows_moved", as: Int64.self)) records moved — \(try row.get("reason", as: String.self))"
        }
    }

    /// Mappings matched below `threshold`, and near misses: assets with the same ticker from
    /// different sources that stayed apart, with the evidence for and against each pair.
    public func uncertain(threshold: Double) throws -> [String] {
        var lines: [String] = []
        let weak = try connection.query("""
            SELECT s.source, s.source_id, s.asset_id, s.symbol, s.name, s.match_method, s.match_confidence::float8 AS confidence,
                   coalesce((SELECT string_agg(e->>'kind' || ' ' || (e->>'weight') || ' (' || (e->>'detail') || ')', ', ')
                             FROM jsonb_array_elements(s.evidence) e), 'no evidence recorded') AS evidence
            FROM asset_sources s
            WHERE s.match_method NOT IN ('new', 'operator') AND s.match_confidence < $1
            ORDER BY s.match_confidence, s.asset_id
            """, [String(threshold)]).rows
        for row in weak {
            lines.append("matched below \(threshold): asset \(try row.get("asset_id", as: Int64.self)) ← "
                + "\(try row.get("source", as: String.self)) \(try row.get("source_id", as: String.self)) "
                + "(\(try row.get("symbol", as: String.self)), \(try row.get("name", as: String.self))) by "
                + "\(try row.get("match_method", as: String.self)), confidence \(try row.get("confidence", as: Double.self)); "
                + "evidence: \(try row.get("evidence", as: String.self))")
        }
        // Pairs of assets sharing a ticker whose sources do not overlap: the automatic rule could
        // have merged them and did not.
        let pairs = try connection.query("""
            WITH a AS (
              SELECT s.asset_id, upper(s.symbol) AS symbol, array_agg(DISTINCT s.source ORDER BY s.source) AS sources,
                     string_agg(s.source || ' ' || s.source_id || ' "' || s.name || '"', '; ' ORDER BY s.source, s.source_id) AS coins,
                     string_agg(s.name, E'\\x1f') AS names, string_agg(s.source_id, E'\\x1f') AS ids,
                     string_agg((SELECT string_agg(e->>'kind' || ' ' || (e->>'weight'), ', ') FROM jsonb_array_elements(s.evidence) e),
                                '; ') FILTER (WHERE s.match_method = 'new' AND jsonb_array_length(coalesce(s.evidence, '[]')) > 0) AS short
              FROM asset_sources s WHERE NOT EXISTS (SELECT 1 FROM asset_aliases x WHERE x.alias_id = s.asset_id)
              GROUP BY 1, 2)
            SELECT a.asset_id AS a_id, b.asset_id AS b_id, a.symbol, a.coins AS a_coins, b.coins AS b_coins,
                   a.names AS a_names, b.names AS b_names, a.ids AS a_ids, b.ids AS b_ids,
                   coalesce(b.short, a.short) AS short
            FROM a JOIN a b ON a.symbol = b.symbol AND a.asset_id < b.asset_id AND NOT (a.sources && b.sources)
            ORDER BY a.symbol, a.asset_id, b.asset_id
            LIMIT 500
            """).rows
        for row in pairs {
            func list(_ column: String) throws -> [String] {
                try row.get(column, as: String.self).split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            }
            let evidence = Identity.nearMissEvidence(a: (try list("a_names"), try list("a_ids")),
                                                     b: (try list("b_names"), try list("b_ids")))
            lines.append("near miss \(try row.get("symbol", as: String.self)): asset \(try row.get("a_id", as: Int64.self)) "
                + "[\(try row.get("a_coins", as: String.self))] and asset \(try row.get("b_id", as: Int64.self)) "
                + "[\(try row.get("b_coins", as: String.self))] — same ticker; \(evidence)"
                + ((try row.optional("short", as: String.self)).map { "; the best candidate's evidence fell short: \($0)" } ?? ""))
        }
        return lines
    }

    private func check(operator name: String, reason: String) throws {
        guard !name.trimmingBlanks().isEmpty else { throw AssetAdminError("--operator must not be empty") }
        guard !reason.trimmingBlanks().isEmpty else { throw AssetAdminError("--reason is required: say why, for whoever reads the overrides later") }
    }

    /// An asset that exists and was not merged away.
    private func requireLive(_ id: Int64) throws {
        let rows = try connection.query("""
            SELECT (SELECT count(*) FROM assets WHERE asset_id = $1) AS known,
                   (SELECT asset_id FROM asset_aliases WHERE alias_id = $1) AS merged_into
            """, [String(id)]).single()
        guard try rows.get("known", as: Int64.self) == 1 else { throw AssetAdminError("no asset \(id)") }
        if let into: Int64 = try rows.optional("merged_into") {
            throw AssetAdminError("asset \(id) was merged into asset \(into) already; name \(into) instead")
        }
    }

    private func record(kind: String, asset: Int64, other: Int64, source: String?, sourceID: String?, moved: Int64,
                        operator name: String, reason: String) throws -> Outcome {
        let id: Int64 = try connection.query("""
            INSERT INTO asset_overrides (kind, asset_id, other_id, source, source_id, rows_moved, operator, reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING override_id
            """, [kind, String(asset), String(other), source, sourceID, String(moved), name, reason]).single().get("override_id")
        // The records' asset changed: every responder must drop its cached pages and totals.
        try connection.query("SELECT kasparro_advance_version()")
        return Outcome(overrideID: id, rowsMoved: moved, assetID: asset, otherID: other)
    }

    /// Runs `body` holding the ETL's invocation lock, so no run resolves identities meanwhile.
    private func exclusively<T>(_ body: () throws -> T) throws -> T {
        guard try InvocationLock.take(connection) else {
            throw AssetAdminError("an ETL run is in progress; try again when it has finished")
        }
        defer { InvocationLock.release(connection) }
        return try body()
    }
}
