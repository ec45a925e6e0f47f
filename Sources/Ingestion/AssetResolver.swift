// Ties each source coin to its canonical asset, creating assets and mappings inside the caller's transaction.
import MarketData
import Store
import Support

/// Resolves `(source, source_id)` to an `asset_id`, with the rules of `Identity`.
///
/// A batch's coins are looked up by their keys (one statement, its cost the batch's, not the
/// number of assets); only a coin not mapped yet loads every asset and mapping, once per run,
/// indexed as `AssetCatalog` does, to match it. A batch's new assets and mappings are written with three
/// statements, and become visible to later batches only after `commit()`, so a rolled-back batch
/// leaves nothing behind in memory either.
final class AssetResolver {
    private struct Key: Hashable { let source: Source; let sourceID: String }

    private var mapped: [Key: Int64] = [:]
    private var catalog = AssetCatalog()
    private var pending: (mapped: [Key: Int64], candidates: [AssetCandidate]) = ([:], [])
    /// The sources' coin lists, read at the first coin to resolve (after this run's list refresh).
    private var directory: CoinDirectory?

    /// Whether every asset and mapping is in memory (after the first coin not mapped yet).
    private var loaded = false

    init() {}

    /// Loads every asset and mapping: the candidates a new coin is matched against.
    private func loadAll(connection: Connection) throws {
        let rows = try connection.query("""
            SELECT s.source, s.source_id, s.asset_id, a.symbol, s.name, s.max_supply, s.total_supply, s.circulating_supply,
                   (extract(epoch FROM s.first_data_at) * 1000000)::bigint AS first_data_at,
                   (extract(epoch FROM s.ath_at) * 1000000)::bigint AS ath_at, (extract(epoch FROM s.atl_at) * 1000000)::bigint AS atl_at
            FROM asset_sources s JOIN assets a USING (asset_id)
            """).rows
        for row in rows {
            let source: Source = try row.get("source")
            let sourceID: String = try row.get("source_id")
            let id: Int64 = try row.get("asset_id")
            mapped[Key(source: source, sourceID: sourceID)] = id
            let supply = Supply(max: try row.optional("max_supply"), total: try row.optional("total_supply"),
                                circulating: try row.optional("circulating_supply"))
            func time(_ column: String) throws -> Timestamp? {
                try row.optional(column, as: Int64.self).map { Timestamp(microseconds: $0) }
            }
            // Under the asset's ticker, as the catalog indexes it.
            catalog.add(AssetCandidate(
                assetID: id, source: source, sourceID: sourceID, symbol: try row.get("symbol"), name: try row.get("name"),
                supply: supply.isEmpty ? nil : supply,
                history: History(firstDataAt: try time("first_data_at"), athAt: try time("ath_at"), atlAt: try time("atl_at"))))
        }
        loaded = true
    }

    /// The mappings of `keys` that exist, into `mapped`.
    private func lookUp(_ keys: [Key], connection: Connection) throws {
        let rows = try connection.queryPrepared("""
            SELECT s.source, s.source_id, s.asset_id FROM unnest($1::text[], $2::text[]) AS k(source, source_id)
            JOIN asset_sources s ON s.source = k.source AND s.source_id = k.source_id
            """, [sqlArrayLiteral(keys.map(\.source.rawValue)), sqlArrayLiteral(keys.map(\.sourceID))]).rows
        for row in rows {
            mapped[Key(source: try row.get("source"), sourceID: try row.get("source_id"))] = try row.get("asset_id")
        }
    }

    /// The asset of every record, in order; new assets and mappings are inserted in the open transaction.
    func assetIDs(for records: [MarketRecord], connection: Connection) throws -> [Int64] {
        // Each coin not mapped yet, once (a CSV batch holds many days of one coin).
        var unmapped: [Key: MarketRecord] = [:]
        var order: [Key] = []
        for record in records {
            let key = Key(source: record.source, sourceID: record.sourceID)
            if mapped[key] == nil && unmapped[key] == nil {
                unmapped[key] = record
                order.append(key)
            }
        }
        if !order.isEmpty, !loaded {
            try lookUp(order, connection: connection)
            order.removeAll { mapped[$0] != nil }
            if !order.isEmpty { try loadAll(connection: connection) }
            order.removeAll { mapped[$0] != nil }
        }
        if !order.isEmpty { try resolve(order.map { unmapped[$0]! }, connection: connection) }
        return records.map { mapped[Key(source: $0.source, sourceID: $0.sourceID)] ?? pending.mapped[Key(source: $0.source, sourceID: $0.sourceID)]! }
    }

    /// Matches new coins against known assets, then writes new assets and all mappings with one
    /// statement each. New coins of one batch never match each other: they share a source.
    private func resolve(_ coins: [MarketRecord], connection: Connection) throws {
        if directory == nil { directory = try CoinLists.directory(connection) }
        let matches = coins.map { coin in
            Identity.match(source: coin.source, sourceID: coin.sourceID, symbol: coin.symbol.uppercased(), name: coin.name,
                           supply: coin.supply, history: coin.history,
                           candidates: catalog.candidates(symbol: coin.symbol, sourceID: coin.sourceID), directory: directory)
        }
        var ids = matches.map(\.assetID)
        let needNew = ids.indices.filter { ids[$0] == nil }
        if !needNew.isEmpty {
            // Ids drawn from the sequence first, so one insert creates every new asset.
            let fresh = try connection.query(
                "SELECT nextval(pg_get_serial_sequence('assets', 'asset_id')) AS id FROM generate_series(1, $1::int)",
                [String(needNew.count)]).rows.map { row throws(DatabaseError) in try row.get("id", as: Int64.self) }
            for (index, id) in zip(needNew, fresh) { ids[index] = id }
            try connection.query("""
                INSERT INTO assets (asset_id, symbol, name) OVERRIDING SYSTEM VALUE
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
                """, [sqlArrayLiteral(needNew.map { String(ids[$0]!) }),
                      sqlArrayLiteral(needNew.map { coins[$0].symbol.uppercased() }),
                      sqlArrayLiteral(needNew.map { coins[$0].name })])
        }
        func number(_ value: Double?) -> String? { value.map { String($0) } }
        try connection.query("""
            INSERT INTO asset_sources (source, source_id, asset_id, symbol, name, match_method, match_confidence,
                                       max_supply, total_supply, circulating_supply, evidence, score,
                                       first_data_at, ath_at, atl_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                                 $8::float8[], $9::float8[], $10::float8[], $11::jsonb[], $12::float8[],
                                 $13::timestamptz[], $14::timestamptz[], $15::timestamptz[])
            """, [sqlArrayLiteral(coins.map(\.source.rawValue)), sqlArrayLiteral(coins.map(\.sourceID)),
                  sqlArrayLiteral(ids.map { String($0!) }), sqlArrayLiteral(coins.map { $0.symbol.uppercased() }),
                  sqlArrayLiteral(coins.map(\.name)), sqlArrayLiteral(matches.map(\.method.rawValue)),
                  sqlArrayLiteral(matches.map { String($0.confidence) }),
                  sqlArrayLiteral(coins.map { number($0.supply?.max) }), sqlArrayLiteral(coins.map { number($0.supply?.total) }),
                  sqlArrayLiteral(coins.map { number($0.supply?.circulating) }),
                  sqlArrayLiteral(matches.map { AssetResolver.evidenceJSON($0.evidence) }),
                  sqlArrayLiteral(matches.map { String($0.score) }),
                  sqlArrayLiteral(coins.map { $0.history?.firstDataAt?.description }),
                  sqlArrayLiteral(coins.map { $0.history?.athAt?.description }),
                  sqlArrayLiteral(coins.map { $0.history?.atlAt?.description })])
        for (coin, id) in zip(coins, ids) {
            pending.mapped[Key(source: coin.source, sourceID: coin.sourceID)] = id!
            pending.candidates.append(AssetCandidate(assetID: id!, source: coin.source, sourceID: coin.sourceID, symbol: coin.symbol,
                                                     name: coin.name, supply: coin.supply, history: coin.history))
        }
    }

    /// Makes this batch's new assets and mappings permanent in memory (call after COMMIT).
    func commit() {
        mapped.merge(pending.mapped) { _, new in new }
        for candidate in pending.candidates { catalog.add(candidate) }
        rollback()
    }

    /// Forgets this batch's changes (call after ROLLBACK).
    func rollback() {
        pending = ([:], [])
    }

    /// A mapping's evidence as stored in `asset_sources.evidence`.
    static func evidenceJSON(_ evidence: [Evidence]) -> String {
        "[" + evidence.map { "{\"kind\":\(jsonString($0.kind)),\"weight\":\($0.weight),\"detail\":\(jsonString($0.detail))}" }
            .joined(separator: ",") + "]"
    }
}
