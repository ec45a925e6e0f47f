// Ties each source coin to its canonical asset, creating assets and mappings inside the caller's transaction.
import MarketData
import Store
import Support

/// Resolves `(source, source_id)` to an `asset_id`, with the rules of `Identity`.
///
/// A batch's coins are looked up by their keys (one statement, its cost the batch's, not the
/// number of assets); only a coin not mapped yet loads every asset and mapping, once per run,
/// indexed by symbol, to match it. A batch's new assets and mappings are written with three
/// statements, and become visible to later batches only after `commit()`, so a rolled-back batch
/// leaves nothing behind in memory either.
final class AssetResolver {
    private struct Key: Hashable { let source: Source; let sourceID: String }

    private var mapped: [Key: Int64] = [:]
    private var candidates: [Int64: AssetCandidate] = [:]
    private var bySymbol: [String: [Int64]] = [:]
    /// Assets by their ticker without its first letter (`MIOTA` under `IOTA`): ticker variants.
    private var longer: [String: [Int64]] = [:]
    /// Assets by the name keys of their coins: a coin whose ticker changed finds its asset by its id.
    private var byKey: [String: [Int64]] = [:]
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
                   rfc3339(s.first_data_at) AS first_data_at, rfc3339(s.ath_at) AS ath_at, rfc3339(s.atl_at) AS atl_at
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
                try row.optional(column, as: String.self).flatMap { Timestamp.parseFilter($0) }
            }
            add(to: id, symbol: try row.get("symbol"), source: source, sourceID: sourceID, name: try row.get("name"),
                supply: supply.isEmpty ? nil : supply,
                history: History(firstDataAt: try time("first_data_at"), athAt: try time("ath_at"), atlAt: try time("atl_at")))
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
            let symbol = coin.symbol.uppercased()
            // Candidates: the same ticker, tickers one leading letter longer or shorter, and assets
            // that hold the coin's own id among their keys (a ticker changed at one source).
            var ids = bySymbol[symbol] ?? []
            if symbol.count >= 4 { ids += bySymbol[String(symbol.dropFirst())] ?? [] }
            ids += longer[symbol] ?? []
            ids += (byKey[Identity.compact(coin.sourceID)] ?? []).filter { !ids.contains($0) }
            let pool = ids.compactMap { candidates[$0] }
            return Identity.match(source: coin.source, sourceID: coin.sourceID, symbol: symbol, name: coin.name,
                                  supply: coin.supply, history: coin.history, candidates: pool, directory: directory)
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
            pending.candidates.append(AssetCandidate(
                assetID: id!, symbol: coin.symbol.uppercased(),
                keys: Identity.keys(source: coin.source, sourceID: coin.sourceID, symbol: coin.symbol, name: coin.name),
                names: [Identity.compact(coin.name)], sources: [coin.source], supplies: coin.supply.map { [$0] } ?? [],
                essentials: [Identity.essentialName(coin.name)], histories: coin.history.map { [$0] } ?? []))
        }
    }

    /// Makes this batch's new assets and mappings permanent in memory (call after COMMIT).
    func commit() {
        mapped.merge(pending.mapped) { _, new in new }
        for candidate in pending.candidates {
            for source in candidate.sources {
                add(to: candidate.assetID, symbol: candidate.symbol, source: source, keys: candidate.keys, names: candidate.names,
                    supplies: candidate.supplies, essentials: candidate.essentials, histories: candidate.histories)
            }
        }
        rollback()
    }

    /// Forgets this batch's changes (call after ROLLBACK).
    func rollback() {
        pending = ([:], [])
    }

    private func add(to id: Int64, symbol: String, source: Source, sourceID: String, name: String, supply: Supply?,
                     history: History?) {
        add(to: id, symbol: symbol, source: source,
            keys: Identity.keys(source: source, sourceID: sourceID, symbol: symbol, name: name),
            names: [Identity.compact(name)], supplies: supply.map { [$0] } ?? [], essentials: [Identity.essentialName(name)],
            histories: history.map { [$0] } ?? [])
    }

    private func add(to id: Int64, symbol: String, source: Source, keys: Set<String>, names: Set<String>, supplies: [Supply],
                     essentials: Set<String>, histories: [History]) {
        if candidates[id] == nil {
            candidates[id] = AssetCandidate(assetID: id, symbol: symbol, keys: [], names: [], sources: [])
            bySymbol[symbol, default: []].append(id)
            if symbol.count >= 4 { longer[String(symbol.dropFirst()), default: []].append(id) }
        }
        for key in keys.subtracting(candidates[id]!.keys) { byKey[key, default: []].append(id) }
        candidates[id]!.keys.formUnion(keys)
        candidates[id]!.names.formUnion(names)
        candidates[id]!.sources.insert(source)
        candidates[id]!.supplies += supplies
        candidates[id]!.histories += histories
        candidates[id]!.essentials.formUnion(essentials.subtracting([""]))
    }

    /// A mapping's evidence as stored in `asset_sources.evidence`.
    static func evidenceJSON(_ evidence: [Evidence]) -> String {
        "[" + evidence.map { "{\"kind\":\(jsonString($0.kind)),\"weight\":\($0.weight),\"detail\":\(jsonString($0.detail))}" }
            .joined(separator: ",") + "]"
    }
}
