// The API sources: fetch a snapshot, keep each record's raw JSON, normalize, and commit in batches.
import Foundation
import Logging
import MarketData
import Store
import Telemetry

/// One API source's run: CoinPaprika's ticker list or CoinGecko's market pages.
///
/// The snapshot's records are written in batches, each with a checkpoint naming the snapshot (a
/// hash of its bytes) and how many records are committed. A run killed midway resumes at that
/// position when the next fetch returns the same snapshot, and starts over (harmlessly: the
/// upserts are idempotent) when the data has moved on.
struct APIIngest {
    let source: Source
    let config: APISourceConfig
    let maxPages: Int
    let batchSize: Int
    let driftThreshold: Double
    /// Whether to refresh the source's coin list (at most once a day) before the snapshot.
    var coinLists = true

    /// Parse and normalize one element, or say why it is quarantined.
    private var normalize: (JSONValue, Timestamp) throws(QuarantineReason) -> MarketRecord {
        switch source {
        case .coingecko: return CoinGecko.record
        default: return CoinPaprika.record
        }
    }

    func run(_ context: RunContext) throws {
        let fetcher = try Fetcher(config: config, logger: context.logger)
        defer {
            context.retries = fetcher.retries
            context.rateLimitWaitSeconds = fetcher.rateLimitWaits
        }
        if coinLists { CoinLists.refreshIfDue(source, fetcher: fetcher, connection: context.connection, logger: context.logger) }
        var elements: [(value: JSONValue, raw: ArraySlice<UInt8>)] = []
        var pages: [RawPage] = []
        var hasher = FNV1a()
        let stream: String
        switch source {
        case .coingecko:
            stream = "markets"
            var seen: Set<String> = []
            var duplicates = 0
            for page in 1...maxPages {
                let body = try fetcher.get("/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=250&page=\(page)")
                let rows = try parse(body, what: "markets page \(page)")
                if rows.isEmpty { break }
                hasher.add(body)
                pages.append(RawPage(number: page, body: body, records: rows))
                for row in rows {
                    // Rows move between pages while paging: keep the first sighting of each id.
                    if case .string(let id)? = row.value["id"] {
                        if seen.contains(id) { duplicates += 1; continue }
                        seen.insert(id)
                    }
                    elements.append(row)
                }
            }
            if duplicates > 0 { context.logger.info("dropped rows repeated across pages", metadata: ["duplicates": "\(duplicates)"]) }
        default:
            stream = "tickers"
            let body = try fetcher.get("/tickers?quotes=USD")
            elements = try parse(body, what: "tickers")
            hasher.add(body)
            pages.append(RawPage(number: 1, body: body, records: elements))
        }
        let renames = try checkDrift(elements.map(\.value), context)
        try store(elements, pages: pages, stream: stream, snapshot: hasher.hex, renames: renames, context)
    }

    /// Compares the payload with the source's expected schema; records and logs every finding and
    /// returns the renames confident enough to apply.
    private func checkDrift(_ records: [JSONValue], _ context: RunContext) throws -> [(expected: String, actual: String)] {
        let findings = SchemaDrift.detect(records, expected: source == .coingecko ? .coingecko : .coinpaprika)
        guard !findings.isEmpty else { return [] }
        var renames: [(expected: String, actual: String)] = []
        for finding in findings {
            let applied = finding.kind == .renamed && (finding.confidence ?? 0) >= driftThreshold
            if applied, let actual = finding.matched { renames.append((finding.field, actual)) }
            context.logger.warning("schema drift", metadata: [
                "kind": "\(finding.kind.rawValue)", "field": "\(finding.field)", "matched_field": "\(finding.matched ?? "")",
                "confidence": "\(finding.confidence.map { String($0) } ?? "")", "sample": "\(finding.sample ?? "")",
                "applied": "\(applied)"])
        }
        try context.connection.query("""
            INSERT INTO schema_drift_events (source, run_id, field, kind, matched_field, confidence, sample)
            SELECT $1, $2, u.field, u.kind, nullif(u.matched, ''), u.confidence, u.sample
            FROM unnest($3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[]) AS u(field, kind, matched, confidence, sample)
            """, [source.rawValue, String(context.runID), sqlArrayLiteral(findings.map(\.field)), sqlArrayLiteral(findings.map(\.kind.rawValue)),
                  sqlArrayLiteral(findings.map { $0.matched ?? "" }), sqlArrayLiteral(findings.map { $0.confidence.map { String($0) } }),
                  sqlArrayLiteral(findings.map(\.sample))])
        return renames
    }

    private func parse(_ body: [UInt8], what: String) throws -> [(value: JSONValue, raw: ArraySlice<UInt8>)] {
        do {
            return try JSONParser.parseArrayElements(body)
        } catch {
            throw IngestError("\(source.rawValue) \(what): not a JSON array of records: \(error)")
        }
    }

    private func store(_ elements: [(value: JSONValue, raw: ArraySlice<UInt8>)], pages: [RawPage], stream: String,
                       snapshot: String, renames: [(expected: String, actual: String)], _ context: RunContext) throws {
        let detail = "{\"snapshot\":\"\(snapshot)\",\"records\":\(elements.count)}"
        var start = 0
        if let saved = try context.checkpoint(stream: stream), saved.detail.contains(snapshot) {
            start = min(Int(saved.position), elements.count)
            if start == elements.count {
                // The very snapshot an earlier run committed in full: nothing can have changed.
                context.countUnchanged(elements.count)
                return
            }
            context.logger.info("same snapshot as the checkpoint: resuming after its committed records",
                                metadata: ["stream": "\(stream)", "position": "\(start)"])
        }
        try context.partitions.ensureRawPages(now: Timestamp.now(), connection: context.connection)
        var rawStored = false
        var position = start
        while position < elements.count {
            let end = min(position + batchSize, elements.count)
            var records: [MarketRecord] = []
            var quarantined: [QuarantinedRecord] = []
            for index in position..<end {
                let element = elements[index]
                let id: String? = if case .string(let text)? = element.value["id"], !text.isEmpty { text } else { nil }
                do {
                    let value = renames.isEmpty ? element.value : SchemaDrift.applying(renames, to: element.value)
                    records.append(try normalize(value, context.now))
                } catch {
                    // The snapshot in the locator: each snapshot's rejection of a record is kept (a
                    // later run's is another record), and a snapshot read again is not kept twice.
                    quarantined.append(QuarantinedRecord(stream: stream, locator: (id.map { "id=\($0)" } ?? "index=\(index)")
                                                            + " snapshot=\(snapshot.prefix(16))",
                                                         raw: String(decoding: element.raw, as: UTF8.self), reason: error))
                }
            }
            try context.writeBatch(records: records, quarantined: quarantined, fetched: end - position,
                                   checkpoint: Checkpoint(stream: stream, position: Int64(end), lineNo: Int64(end), detail: detail)) { db in
                // The pages as received, with the first batch: a page already stored (the same
                // snapshot fetched again, or resumed after a crash) stores nothing new.
                guard !rawStored else { return }
                for page in pages { try page.store(source: source, runID: context.runID, db) }
            }
            rawStored = true
            position = end
        }
    }
}

/// One fetched page, kept byte for byte, with where each of its records lies in it.
struct RawPage {
    let number: Int
    let body: [UInt8]
    let ids: [String]
    let starts: [Int]
    let lengths: [Int]

    init(number: Int, body: [UInt8], records: [(value: JSONValue, raw: ArraySlice<UInt8>)]) {
        self.number = number
        self.body = body
        var ids: [String] = [], starts: [Int] = [], lengths: [Int] = []
        for (index, record) in records.enumerated() {
            let id: String? = if case .string(let text)? = record.value["id"], !text.isEmpty { text } else { nil }
            ids.append(id ?? "#\(index)")
            starts.append(record.raw.startIndex - body.startIndex)
            lengths.append(record.raw.count)
        }
        self.ids = ids
        self.starts = starts
        self.lengths = lengths
    }

    /// Inserts the page unless a page with the same bytes is stored for the source: as its
    /// skeleton and numbers (migration 12) when it splits, else as the bytes themselves.
    func store(source: Source, runID: Int64, _ db: Connection) throws {
        let split = PageSplit(body).flatMap { $0.joined == body ? $0 : nil }
        try db.queryPrepared("""
            INSERT INTO raw_api_pages (run_id, page, source, sha256, body, skeleton, numbers, ids, starts, lengths)
            SELECT $1, $2, $3, sha256(b), CASE WHEN $8::text IS NULL THEN b END, $8, $9, $5::text[], $6::int[], $7::int[]
            FROM decode($4, 'hex') AS b
            WHERE NOT EXISTS (SELECT 1 FROM raw_api_pages p WHERE p.source = $3 AND p.sha256 = sha256(b))
            """, [String(runID), String(number), source.rawValue, hexString(body), sqlArrayLiteral(ids),
                  "{" + starts.map(String.init).joined(separator: ",") + "}",
                  "{" + lengths.map(String.init).joined(separator: ",") + "}",
                  split?.skeleton, split?.numbers])
    }
}

/// A page as two texts that pglz packs about a fifth tighter than the page: the skeleton (the
/// page with each run of number characters replaced by the byte 0x01) and the runs in order,
/// joined by commas. A run is a maximal run of `0-9 . + - e E` holding at least one digit, so
/// no run holds a comma and the skeleton's 0x01 bytes are exactly the runs' places.
/// `kasparro_page_bytes` (migration 12) joins them back; `joined` is the same join in Swift.
struct PageSplit: Equatable {
    let skeleton: String
    let numbers: String

    /// Nil when the page cannot be split losslessly as text: a 0x00 byte (text cannot hold it),
    /// a 0x01 byte (the marker) or bytes that are not UTF-8. A JSON page has none of them.
    init?(_ body: [UInt8]) {
        guard !body.contains(0), !body.contains(1), String(validating: body, as: UTF8.self) != nil else { return nil }
        func inRun(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"),
                 UInt8(ascii: "e"), UInt8(ascii: "E"): return true
            default: return false
            }
        }
        var skeleton: [UInt8] = [], numbers: [UInt8] = []
        skeleton.reserveCapacity(body.count * 2 / 3)
        numbers.reserveCapacity(body.count / 3)
        var index = 0
        while index < body.count {
            guard inRun(body[index]) else {
                skeleton.append(body[index])
                index += 1
                continue
            }
            let start = index
            var digit = false
            while index < body.count, inRun(body[index]) {
                digit = digit || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(body[index])
                index += 1
            }
            if digit {
                if !numbers.isEmpty { numbers.append(UInt8(ascii: ",")) }  // runs are never empty
                numbers.append(contentsOf: body[start..<index])
                skeleton.append(1)
            } else {
                skeleton.append(contentsOf: body[start..<index])
            }
        }
        self.skeleton = String(decoding: skeleton, as: UTF8.self)
        self.numbers = String(decoding: numbers, as: UTF8.self)
    }

    /// The page's bytes again.
    var joined: [UInt8] {
        var runs = numbers.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).makeIterator()
        var out: [UInt8] = []
        for byte in skeleton.utf8 {
            if byte == 1, let run = runs.next() { out.append(contentsOf: run) } else { out.append(byte) }
        }
        return out
    }
}

/// Lowercase hex of `bytes` (bytea travels as text: `decode($1, 'hex')`).
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8](repeating: 0, count: bytes.count * 2)
    for (index, byte) in bytes.enumerated() {
        out[2 * index] = digits[Int(byte >> 4)]
        out[2 * index + 1] = digits[Int(byte & 0x0f)]
    }
    return String(decoding: out, as: UTF8.self)
}

/// FNV-1a, 64-bit: identifies a fetched snapshot in its checkpoint (not a security hash).
struct FNV1a {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state = state &* 0x0000_0100_0000_01B3
        }
    }

    var hex: String {
        let text = String(state, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
