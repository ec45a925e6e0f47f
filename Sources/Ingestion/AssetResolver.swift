// Ties each source coin to its canonical asset, creating assets and mappings inside the caller's transaction.
import MarketData
import Store

/// Resolves `(source, source_id)` to an `asset_id`, with the rules of `Identity`.
///
/// Known mappings and candidates are loaded once per run. Changes made inside a batch's
/// transaction become visible to later batches only after `commit()`, so a rolled-back batch
/// leaves nothing behind in memory either.
final class AssetResolver {
    private struct Key: Hashable { let source: Source; let sourceID: String }

    private var mapped: [Key: Int64] = [:]
    private var candidates: [Int64: AssetCandidate] = [:]
    private var pendingMapped: [Key: Int64] = [:]
    private var pendingCandidates: [Int64: AssetCandidate] = [:]

    /// Loads every asset and mapping.
    init(connection: Connection) throws {
        let rows = try connection.query("""
            SELECT s.source, s.source_id, s.asset_id, a.symbol, s.name
            FROM asset_sources s JOIN assets a USING (asset_id)
            """).rows
        for row in rows {
            guard let source = Source(rawValue: row[0]!), let id = Int64(row[2]!) else { continue }
            mapped[Key(source: source, sourceID: row[1]!)] = id
            var candidate = candidates[id] ?? AssetCandidate(assetID: id, symbol: row[3]!, keys: [], names: [])
            candidate.keys.formUnion(Identity.keys(source: source, sourceID: row[1]!, symbol: row[3]!, name: row[4]!))
            candidate.names.insert(Identity.compact(row[4]!))
            candidates[id] = candidate
        }
    }

    /// The asset for one record, creating the asset and/or mapping within the open transaction.
    func assetID(for record: MarketRecord, connection: Connection) throws -> Int64 {
        let key = Key(source: record.source, sourceID: record.sourceID)
        if let id = pendingMapped[key] ?? mapped[key] { return id }
        let symbol = record.symbol.uppercased()
        let pool = candidates.merging(pendingCandidates) { _, new in new }.values.filter { $0.symbol == symbol }
        let match = Identity.match(source: record.source, sourceID: record.sourceID, symbol: symbol,
                                   name: record.name, candidates: Array(pool))
        let id: Int64
        if let existing = match.assetID {
            id = existing
        } else {
            id = Int64(try connection.query("INSERT INTO assets (symbol, name) VALUES ($1, $2) RETURNING asset_id",
                                            [symbol, record.name]).scalar!)!
        }
        try connection.query("""
            INSERT INTO asset_sources (source, source_id, asset_id, symbol, name, match_method, match_confidence)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, [record.source.rawValue, record.sourceID, String(id), symbol, record.name, match.method,
                  String(match.confidence)])
        var candidate = pendingCandidates[id] ?? candidates[id] ?? AssetCandidate(assetID: id, symbol: symbol, keys: [], names: [])
        candidate.keys.formUnion(Identity.keys(source: record.source, sourceID: record.sourceID, symbol: symbol, name: record.name))
        candidate.names.insert(Identity.compact(record.name))
        pendingCandidates[id] = candidate
        pendingMapped[key] = id
        return id
    }

    /// Makes this batch's new assets and mappings permanent in memory (call after COMMIT).
    func commit() {
        mapped.merge(pendingMapped) { _, new in new }
        candidates.merge(pendingCandidates) { _, new in new }
        rollback()
    }

    /// Forgets this batch's changes (call after ROLLBACK).
    func rollback() {
        pendingMapped.removeAll()
        pendingCandidates.removeAll()
    }
}
