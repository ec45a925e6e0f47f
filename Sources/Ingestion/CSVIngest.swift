// The CSV source: every *.csv in a directory is a stream read from its checkpoint to its end.
import Foundation
import Logging
import MarketData
import Store
import Support
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
        guard let handle = FileHandle(forReadingAtPath: path) else { throw IngestError("cannot read \(path)") }
        defer { try? handle.close() }
        let size = Int64(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        var headerReader = LineReader(handle: handle)
        guard let headerBytes = try headerReader.nextLine() else {
            context.logger.warning("file has no complete header line yet", metadata: ["stream": "\(file)"])
            return
        }
        let headerLine = String(decoding: headerBytes, as: UTF8.self)
        let layout = try CSVLayout(header: Substring(headerLine))
        let headerDetail = "{\"header\":\(jsonString(String(headerLine.trimmingBlanks())))}"

        var position = Int64(headerBytes.count + 1)
        var lineNo: Int64 = 1
        if let saved = try context.checkpoint(stream: file) {
            if saved.position > size || !saved.detail.contains(jsonString(String(headerLine.trimmingBlanks()))) {
                context.logger.warning("file shrank or its header changed; reading it again from the start",
                                       metadata: ["stream": "\(file)", "checkpoint": "\(saved.position)", "size": "\(size)"])
            } else {
                position = saved.position
                lineNo = saved.lineNo
            }
        }
        try handle.seek(toOffset: UInt64(position))
        var reader = LineReader(handle: handle)
        let startPosition = position
        var records: [MarketRecord] = []
        var quarantined: [QuarantinedRecord] = []
        var rawLines: [(Int64, String)] = []

        func flush() throws {
            guard !rawLines.isEmpty else { return }
            let lines = rawLines
            try context.writeBatch(records: records, quarantined: quarantined, fetched: lines.count,
                                   checkpoint: Checkpoint(stream: file, position: position, lineNo: lineNo, detail: headerDetail)) { db in
                // The batch's lines as read, in one compressed row: a chunk already stored (a
                // re-read after a crash or a rewritten file) is not stored again.
                try db.queryPrepared("""
                    INSERT INTO raw_csv_chunks (stream, first_line, line_count, run_id, body)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (stream, first_line) DO NOTHING
                    """, [file, String(lines[0].0), String(lines.count), String(context.runID),
                          lines.map(\.1).joined(separator: "\n")])
            }
            records.removeAll(keepingCapacity: true)
            quarantined.removeAll(keepingCapacity: true)
            rawLines.removeAll(keepingCapacity: true)
        }

        // Complete lines only: a last line without its newline may still be being written.
        while let bytes = try reader.nextLine() {
            let text = String(decoding: bytes, as: UTF8.self).replacingNULs()
            let line = Substring(text.hasSuffix("\r") ? String(text.dropLast()) : text)
            position += Int64(bytes.count + 1)
            if line.trimmingBlanks().isEmpty { continue }
            do {
                records.append(try layout.record(from: line, now: context.now))
            } catch {
                quarantined.append(QuarantinedRecord(stream: file, locator: "line \(lineNo + 1)", raw: String(line), reason: error))
            }
            lineNo += 1
            rawLines.append((lineNo, String(line)))
            if rawLines.count >= batchSize { try flush() }
        }
        try flush()
        context.logger.info("csv stream read", metadata: [
            "stream": "\(file)", "from_byte": "\(startPosition)", "to_byte": "\(position)", "lines": "\(lineNo - 1)"])
    }
}

/// Reads `\n`-terminated lines from a file in 1 MiB chunks, so memory stays flat whatever the
/// file's size. A trailing line without its newline is never returned.
struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(handle: FileHandle) { self.handle = handle }

    /// The next complete line without its `\n` (a `\r` before it is kept), or nil.
    mutating func nextLine() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                start = newline + 1
                return line
            }
            guard !atEnd else { return nil }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}

/// A source failed as a whole (missing directory, bad payload); recorded in its run row.
public struct IngestError: Error, CustomStringConvertible {
    /// What failed and what to check.
    public let description: String
    init(_ description: String) { self.description = description }
}
