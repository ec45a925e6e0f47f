// Each API's own coin list (CoinPaprika `/coins`, CoinGecko `/coins/list`): fetched at most once a
// day, stored as received and as rows, read by the identity matcher.
import Foundation
import Logging
import MarketData
import Store
import Support

enum CoinLists {
    /// A stored list younger than this is not fetched again (CoinGecko's demo quota is counted per call).
    static let maxAge: TimeInterval = 86_400

    static func path(_ source: Source) -> String? {
        switch source {
        case .coinpaprika: return "/coins"
        case .coingecko: return "/coins/list"
        case .csv: return nil
        }
    }

    /// Fetches and stores `source`'s coin list when the stored one is missing or a day old. A
    /// failure is logged and the run goes on with what is stored: the list is evidence, not data.
    static func refreshIfDue(_ source: Source, fetcher: Fetcher, connection: Connection, logger: Logger) {
        guard let path = path(source) else { return }
        do {
            let age: Double? = try connection.query(
                "SELECT extract(epoch FROM now() - fetched_at)::float8 AS age FROM coin_lists WHERE source = $1",
                [source.rawValue]).rows.first.map { row throws in try row.get("age") }
            if let age, age < maxAge { return }
            let body = try fetcher.get(path)
            let coins = try JSONParser.parseArrayElements(body).compactMap { element -> (id: String, symbol: String, name: String)? in
                guard case .string(let id)? = element.value["id"], case .string(let symbol)? = element.value["symbol"],
                      case .string(let name)? = element.value["name"], !id.isEmpty, !symbol.isEmpty else { return nil }
                return (id, symbol.uppercased(), name)
            }
            try connection.transaction {
                try connection.query("""
                    INSERT INTO coin_lists (source, fetched_at, coins, body) VALUES ($1, now(), $2, decode($3, 'hex'))
                    ON CONFLICT (source) DO UPDATE SET fetched_at = EXCLUDED.fetched_at, coins = EXCLUDED.coins, body = EXCLUDED.body
                    """, [source.rawValue, String(coins.count), hexString(body)])
                try connection.query("DELETE FROM source_coins WHERE source = $1", [source.rawValue])
                try connection.query("""
                    INSERT INTO source_coins (source, id, symbol, name)
                    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING
                    """, [source.rawValue, sqlArrayLiteral(coins.map(\.id)), sqlArrayLiteral(coins.map(\.symbol)),
                          sqlArrayLiteral(coins.map(\.name))])
            }
            logger.info("coin list stored", metadata: ["coins": "\(coins.count)", "bytes": "\(body.count)"])
        } catch {
            logger.warning("coin list not refreshed; matching uses the stored one", metadata: [
                "error": "\((error as? DatabaseError)?.debugDescription ?? "\(error)")"])
        }
    }

    /// Every stored coin of every source, for the matcher.
    static func directory(_ connection: Connection) throws -> CoinDirectory {
        var directory = CoinDirectory()
        for row in try connection.query("SELECT source, id, symbol, name FROM source_coins").rows {
            directory.add(source: try row.get("source"), id: try row.get("id"), symbol: try row.get("symbol"), name: try row.get("name"))
        }
        return directory
    }
}
