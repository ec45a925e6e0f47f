// The CSV source: every *.csv in a directory is a stream read from its checkpoint to its end.
import Foundation
import Logging
import MarketData
import Store
import Telemetry

/// Reads price-history files incrementally: each file's checkpoint is the byte offset after the
/// last line committed, so a second run reads only what was appended.
///
/// A last line without its newline may still be being written: it waits for the next run. A file that shrank or whose header
/// changed is read again from the start (the upserts make that harmless).
struct CSVIngest {
    let directory: String
    let batchSize: Int

    func run(_ context: RunContext) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw IngestError("CSV_SOURCE_DIR \(directory.debugDescription) does not exist or is not a directory")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".csv") }.sorted()
        guard !files.isEmpty else {
            throw IngestError("no *.csv files in CSV_SOURCE_DIR \(directory.debugDescription)")
        }
        for file in files {
            try ingest(file: file, context)
        }
    }

    private func ingest(file: String, _ context: RunContext) throws {
        let path = (directory as NSString).appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError("cannot read \(path)")
        }
        let bytes = [UInt8](data)
        guard let headerEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            context.logger.warning("file has no complete header line yet", metadata: ["stream": "\(file)"])
            return
        }
        let headerLine = String(decoding: bytes[..<headerEnd], as: UTF8.self)
        let layout = try CSVLayout(header: Substring(headerLine))
        let headerDetail = "{\"header\":\(jsonString(String(headerLine.trimmingBlanks())))}"

        var position = Int64(headerEnd + 1)
        var lineNo: Int64 = 1
        if let saved = try context.checkpoint(stream: file) {
            if saved.position > Int64(bytes.count) || !saved.detail.contains(jsonString(String(headerLine.trimmingBlanks()))) {
                context.logger.warning("file shrank or its header changed; reading it again from the start",
                                       metadata: ["stream": "\(file)", "checkpoint": "\(saved.position)", "size": "\(bytes.count)"])
            } else {
                position = saved.position
                lineNo = saved.lineNo
            }
        }
        let startPosition = position
        var records: [MarketRecord] = []
        var quarantined: [QuarantinedRecord] = []
        var rawLines: [(Int64, String)] = []

        func flush() throws {
            guard !rawLines.isEmpty else { return }
            let lines = rawLines
            try context.writeBatch(records: records, quarantined: quarantined, fetched: lines.count,
                                   checkpoint: Checkpoint(stream: file, position: position, lineNo: lineNo, detail: headerDetail)) { db in
                try db.queryPrepared("insert_raw_csv", """
                    INSERT INTO raw_csv (stream, line_no, line, sha256, run_id)
                    SELECT $1, u.n, u.l, sha256(convert_to(u.l, 'UTF8')), $2
                    FROM unnest($3::bigint[], $4::text[]) AS u(n, l)
                    ON CONFLICT (stream, line_no) DO NOTHING
                    """, [file, String(context.runID), sqlArrayLiteral(lines.map { String($0.0) }),
                          sqlArrayLiteral(lines.map { $0.1 })])
            }
            records.removeAll(keepingCapacity: true)
            quarantined.removeAll(keepingCapacity: true)
            rawLines.removeAll(keepingCapacity: true)
        }

        var cursor = Int(position)
        while cursor < bytes.count {
            guard let newline = bytes[cursor...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let end = newline
            let text = String(decoding: bytes[cursor..<end], as: UTF8.self).replacingNULs()
            let line = Substring(text.hasSuffix("\r") ? String(text.dropLast()) : text)
            let nextCursor = newline + 1
            if line.trimmingBlanks().isEmpty {
                cursor = nextCursor
                position = Int64(cursor)
                continue
            }
            do {
                let record = try layout.record(from: line, now: context.now)
                records.append(record)
            } catch {
                quarantined.append(QuarantinedRecord(stream: file, locator: "line \(lineNo + 1)", raw: String(line), reason: error))
            }
            lineNo += 1
            rawLines.append((lineNo, String(line)))
            cursor = nextCursor
            position = Int64(cursor)
            if rawLines.count >= batchSize { try flush() }
        }
        try flush()
        context.logger.info("csv stream read", metadata: [
            "stream": "\(file)", "from_byte": "\(startPosition)", "to_byte": "\(position)", "lines": "\(lineNo - 1)"])
    }
}

/// A source failed as a whole (missing directory, bad payload); recorded in its run row.
public struct IngestError: Error, CustomStringConvertible {
    /// What failed and what to check.
    public let description: String
    init(_ description: String) { self.description = description }
}
