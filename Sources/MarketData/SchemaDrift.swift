// Schema drift: each payload's fields and types against the source's expected schema, with
// renamed fields recognised by fuzzy name matching and a confidence score.

/// What changed in a payload's shape (stored in `schema_drift_events.kind`).
public enum DriftKind: String, Sendable, CaseIterable {
    /// A field the schema does not know.
    case added
    /// An expected field that is missing, with no likely new name.
    case removed
    /// A field whose values have another JSON type than expected.
    case typeChanged = "type_changed"
    /// An expected field that is missing, with a likely new name.
    case renamed
}

/// One finding about a payload's shape.
public struct DriftFinding: Sendable, Equatable {
    /// What changed.
    public let kind: DriftKind
    /// The expected field (for `added`, the new field).
    public let field: String
    /// For `renamed`, the field the payload has instead; for `type_changed`, the type seen.
    public let matched: String?
    /// For `renamed`, how sure the match is, in [0, 1].
    public let confidence: Double?
    /// A value seen in the payload, shortened.
    public let sample: String?
}

/// The fields a source's records are expected to have: dotted paths (`quotes.USD.price`) and the
/// JSON types allowed for each (`null` allowed where the API sends it).
public struct ExpectedSchema: Sendable {
    /// Path → allowed type names.
    public let fields: [String: Set<String>]
    /// Paths whose absence is not drift (optional fields some responses carry).
    public let optional: Set<String>

    /// Creates a schema.
    public init(fields: [String: Set<String>], optional: Set<String> = []) {
        self.fields = fields
        self.optional = optional
    }

    private static let number: Set<String> = ["number"]
    private static let numberOrNull: Set<String> = ["number", "null"]
    private static let string: Set<String> = ["string"]

    /// CoinPaprika `/tickers?quotes=USD`.
    public static let coinpaprika: ExpectedSchema = {
        var fields: [String: Set<String>] = [
            "id": string, "name": string, "symbol": string, "rank": number, "circulating_supply": number,
            "total_supply": number, "max_supply": number, "beta_value": number, "first_data_at": ["string", "null"],
            "last_updated": string, "quotes": ["object"], "quotes.USD": ["object"],
        ]
        for key in ["price", "volume_24h", "volume_24h_change_24h", "market_cap", "market_cap_change_24h",
                    "percent_change_15m", "percent_change_30m", "percent_change_1h", "percent_change_6h",
                    "percent_change_12h", "percent_change_24h", "percent_change_7d", "percent_change_30d",
                    "percent_change_1y", "ath_price", "percent_from_price_ath"] {
            fields["quotes.USD." + key] = numberOrNull
        }
        fields["quotes.USD.ath_date"] = ["string", "null"]
        return ExpectedSchema(fields: fields)
    }()

    /// CoinGecko `/coins/markets`.
    public static let coingecko: ExpectedSchema = {
        var fields: [String: Set<String>] = ["id": string, "symbol": string, "name": string, "image": string,
                                             "last_updated": string, "ath_date": ["string", "null"],
                                             "atl_date": ["string", "null"], "roi": ["object", "null"],
                                             "roi.times": number, "roi.currency": string, "roi.percentage": number]
        for key in ["current_price", "market_cap", "market_cap_rank", "fully_diluted_valuation", "total_volume",
                    "high_24h", "low_24h", "price_change_24h", "price_change_percentage_24h", "market_cap_change_24h",
                    "market_cap_change_percentage_24h", "circulating_supply", "total_supply", "max_supply", "ath",
                    "ath_change_percentage", "atl", "atl_change_percentage"] {
            fields[key] = numberOrNull
        }
        var optional: Set<String> = ["roi.times", "roi.currency", "roi.percentage"]
        for window in ["1h", "24h", "7d", "14d", "30d", "200d", "1y"] {
            fields["price_change_percentage_\(window)_in_currency"] = numberOrNull
            optional.insert("price_change_percentage_\(window)_in_currency")
        }
        return ExpectedSchema(fields: fields, optional: optional)
    }()
}

/// Compares payloads with an expected schema.
public enum SchemaDrift {
    /// Renames at or above this confidence are applied so records keep flowing.
    public static let defaultThreshold = 0.8

    /// The drift findings of one payload's records. A field counts as present when any record has
    /// it; a type as changed when most records carrying the field use a type the schema does not allow.
    public static func detect(_ records: [JSONValue], expected: ExpectedSchema) -> [DriftFinding] {
        var seen: [String: (count: Int, types: [String: Int], sample: String?)] = [:]
        for record in records {
            var flat: [(String, JSONValue)] = []
            flatten(record, prefix: "", into: &flat, depth: 0)
            for (path, value) in flat {
                var entry = seen[path] ?? (0, [:], nil)
                entry.count += 1
                entry.types[value.typeName, default: 0] += 1
                if entry.sample == nil, value != .null { entry.sample = sampleText(value) }
                seen[path] = entry
            }
        }
        var findings: [DriftFinding] = []
        let missing = expected.fields.keys.filter { seen[$0] == nil && !expected.optional.contains($0) }.sorted()
        var added = seen.keys.filter { expected.fields[$0] == nil }.sorted()
        for field in missing {
            // The best-matching new field of a compatible type, if any.
            var best: (field: String, confidence: Double)?
            for candidate in added {
                let types = Set(seen[candidate]!.types.keys).subtracting(["null"])
                let compatible = types.isEmpty || !types.isDisjoint(with: expected.fields[field]!)
                let confidence = nameSimilarity(field, candidate) * (compatible ? 1 : 0.5)
                if confidence > (best?.confidence ?? 0) { best = (candidate, confidence) }
            }
            if let best, best.confidence >= 0.5 {
                findings.append(DriftFinding(kind: .renamed, field: field, matched: best.field,
                                             confidence: (best.confidence * 1000).rounded() / 1000, sample: seen[best.field]!.sample))
                added.removeAll { $0 == best.field }
            } else {
                findings.append(DriftFinding(kind: .removed, field: field, matched: nil, confidence: nil, sample: nil))
            }
        }
        for field in added {
            findings.append(DriftFinding(kind: .added, field: field, matched: seen[field]!.types.max { $0.value < $1.value }?.key,
                                         confidence: nil, sample: seen[field]!.sample))
        }
        for (field, allowed) in expected.fields.sorted(by: { $0.key < $1.key }) {
            guard let entry = seen[field] else { continue }
            let bad = entry.types.filter { !allowed.contains($0.key) }
            let badCount = bad.values.reduce(0, +)
            if badCount * 2 > entry.count, let type = bad.max(by: { $0.value < $1.value })?.key {
                findings.append(DriftFinding(kind: .typeChanged, field: field, matched: type, confidence: nil, sample: entry.sample))
            }
        }
        return findings
    }

    /// Applies confident renames: the payload's new field is read under its expected name.
    public static func applying(_ renames: [(expected: String, actual: String)], to record: JSONValue) -> JSONValue {
        var record = record
        for (expected, actual) in renames {
            if let value = value(at: actual, in: record) {
                record = setting(expected, to: value, in: record)
            }
        }
        return record
    }

    /// How alike two field names are, in [0, 1]: 1 when they differ only in case and separators
    /// (`market_cap` ~ `marketCap`), high when one's words contain the other's (`market_cap` ~
    /// `market_cap_usd`), low for unrelated names (`market_cap` ~ `volume`).
    public static func nameSimilarity(_ a: String, _ b: String) -> Double {
        let (leafA, leafB) = (leaf(a), leaf(b))
        let (parentA, parentB) = (parent(a), parent(b))
        let parentFactor = parentA == parentB ? 1.0 : 0.8
        let wordsA = words(leafA), wordsB = words(leafB)
        if wordsA == wordsB { return 0.98 * parentFactor }
        let common = Double(wordsA.intersection(wordsB).count)
        let jaccard = common / Double(wordsA.union(wordsB).count)
        let containment = common / Double(min(wordsA.count, wordsB.count))
        let compactA = wordsA.sorted().joined(), compactB = wordsB.sorted().joined()
        let edit = 1 - Double(levenshtein(Array(compactA.utf8), Array(compactB.utf8))) / Double(max(compactA.count, compactB.count, 1))
        let score = max(edit * 0.9, containment == 1 ? 0.6 + 0.35 * jaccard : jaccard * 0.8)
        return min(1, score) * parentFactor
    }

    // MARK: helpers

    private static func flatten(_ value: JSONValue, prefix: String, into out: inout [(String, JSONValue)], depth: Int) {
        guard case .object(let members) = value else { return }
        for (key, member) in members {
            let path = prefix.isEmpty ? key : prefix + "." + key
            out.append((path, member))
            if case .object = member, depth < 3 { flatten(member, prefix: path, into: &out, depth: depth + 1) }
        }
    }

    private static func sampleText(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return String(text.prefix(80))
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .array: return "[…]"
        case .object: return "{…}"
        }
    }

    private static func leaf(_ path: String) -> String { path.split(separator: ".").last.map(String.init) ?? path }
    private static func parent(_ path: String) -> String { path.split(separator: ".").dropLast().joined(separator: ".") }

    /// Lower-case words of a snake_case, kebab-case or camelCase name.
    static func words(_ name: String) -> Set<String> {
        var result: Set<String> = []
        var current = ""
        var previousLower = false
        for char in name {
            if char == "_" || char == "-" || char == " " {
                if !current.isEmpty { result.insert(current) }
                current = ""
                previousLower = false
            } else if char.isUppercase && previousLower {
                if !current.isEmpty { result.insert(current) }
                current = String(char).lowercased()
                previousLower = false
            } else {
                current += String(char).lowercased()
                previousLower = char.isLowercase || char.isNumber
            }
        }
        if !current.isEmpty { result.insert(current) }
        return result
    }

    private static func levenshtein(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }

    private static func value(at path: String, in record: JSONValue) -> JSONValue? {
        var current: JSONValue? = record
        for key in path.split(separator: ".") { current = current?[String(key)] }
        return current
    }

    private static func setting(_ path: String, to value: JSONValue, in record: JSONValue) -> JSONValue {
        let keys = path.split(separator: ".").map(String.init)
        func set(_ node: JSONValue, _ index: Int) -> JSONValue {
            guard case .object(var members) = node else { return node }
            if index == keys.count - 1 {
                members[keys[index]] = value
            } else {
                members[keys[index]] = set(members[keys[index]] ?? .object([:]), index + 1)
            }
            return .object(members)
        }
        return set(record, 0)
    }
}
