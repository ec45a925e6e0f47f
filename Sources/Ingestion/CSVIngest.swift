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
/// A last line without its newline may still be being written: it waits for the next run. A file that shrank, whose header
/// changed, or whose bytes before its checkpoint are not the ones read (rewritten in place: an edit
/// above the checkpoint, or the checkpoint no longer at a line's start) is read again from the start
/// (the upserts make that harmless): each checkpoint keeps an FNV-1a digest of the file up to it.
///
/// Reading, parsing and preparing a batch's array literals (`RecordBatch`) run on a thread of
/// their own, at most two batches ahead of the writer, so on a multi-core machine the ETL
/// prepares the next batch while PostgreSQL writes this one.
/// A batch takes lines from up to `width` files at once (a history is usually one file per
/// coin, a row per day): rows of the same days share their rollup buckets, so a batch updates
/// a bucket once for all its coins instead of once per coin. Each file's checkpoint commits in
/// the transaction of the lines read from it.
struct CSVIngest {
    let directory: String
    let batchSize: Int
    /// Files read side by side.
    var width = 16

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
        let saved = try context.checkpoints()
        context.rowsAreUsuallyNew = true
        let reader = CSVReader(directory: directory, batchSize: batchSize, width: width, now: context.now, logger: context.logger)
        let channel = BatchChannel<CSVBatch>(capacity: 2)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do {
                try reader.read(files: files, saved: saved, into: channel)
                channel.finish(nil)
            } catch {
                channel.finish(error)
            }
            done.signal()
        }
        thread.name = "csv-reader"
        thread.start()
        defer {
            channel.cancel()
            done.wait()
        }
        while let batch = try channel.take() {
            let segments = batch.segments
            try context.writeBatch(records: batch.records, quarantined: segments.flatMap(\.quarantined),
                                   fetched: segments.reduce(0) { $0 + $1.lineCount },
                                   checkpoints: segments.map(\.checkpoint)) { db in
                // Each segment's lines as read, in one compressed row: a chunk already stored (a
                // re-read after a crash or a rewritten file) is not stored again. All of a batch's
                // segments in one statement.
                let stored = segments.filter { $0.lineCount > 0 }
                guard !stored.isEmpty else { return }
                try db.queryPrepared("""
                    INSERT INTO raw_csv_chunks (stream, first_line, line_count, run_id, body)
                    SELECT u.stream, u.first_line, u.line_count, $1, u.body
                    FROM unnest($2::text[], $3::bigint[], $4::int[], $5::text[]) AS u(stream, first_line, line_count, body)
                    ON CONFLICT (stream, first_line) DO NOTHING
                    """, [String(context.runID), sqlArrayLiteral(stored.map(\.checkpoint.stream)),
                          sqlArrayLiteral(stored.map { String($0.firstLine) }), sqlArrayLiteral(stored.map { String($0.lineCount) }),
                          sqlArrayLiteral(stored.map(\.lines))])
            }
        }
    }
}

/// What the reader hands the writer: the segments of a batch and their records, prepared for the
/// database on the reader's thread.
struct CSVBatch {
    var segments: [CSVSegment]
    let records: RecordBatch

    init(_ segments: [CSVSegment]) {
        records = RecordBatch(segments.flatMap(\.records))
        self.segments = segments
        for index in self.segments.indices { self.segments[index].records = [] }
    }
}

/// The lines a batch takes from one file.
struct CSVSegment {
    var records: [MarketRecord] = []
    var quarantined: [QuarantinedRecord] = []
    /// The lines as read, joined by newlines.
    var lines = ""
    var firstLine: Int64
    var lineCount = 0
    var checkpoint: Checkpoint
}

/// Reads and parses CSV files into batches (on the reader thread: it touches no database).
struct CSVReader {
    let directory: String
    let batchSize: Int
    let width: Int
    let now: Timestamp
    let logger: Logger

    /// One open file.
    private final class Stream {
        let file: String
        let handle: FileHandle
        var reader: LineReader
        let layout: CSVLayout
        /// The header as JSON text, kept in each checkpoint's detail.
        let header: String
        var position: Int64
        var lineNo: Int64
        let startPosition: Int64
        var atEnd = false
        /// The digest of the file's bytes before `position`.
        var prefix: FNV1a

        init(file: String, handle: FileHandle, layout: CSVLayout, header: String, position: Int64, lineNo: Int64,
             prefix: FNV1a) throws {
            self.file = file
            self.handle = handle
            self.layout = layout
            self.header = header
            self.position = position
            self.lineNo = lineNo
            self.startPosition = position
            self.prefix = prefix
            try handle.seek(toOffset: UInt64(position))
            self.reader = LineReader(handle: handle)
        }

        var checkpoint: Checkpoint {
            Checkpoint(stream: file, position: position, lineNo: lineNo,
                       detail: "{\"header\":\(header),\"prefix_fnv1a\":\"\(prefix.hex)\"}")
        }
    }

    /// The digest of the first `count` bytes of `handle` (nil when it has fewer); leaves the offset anywhere.
    private static func digest(of handle: FileHandle, count: Int64) throws -> FNV1a? {
        try handle.seek(toOffset: 0)
        var hasher = FNV1a()
        var left = count
        while left > 0 {
            guard let chunk = try handle.read(upToCount: Int(min(left, 1 << 20))), !chunk.isEmpty else { return nil }
            hasher.add(chunk)
            left -= Int64(chunk.count)
        }
        return hasher
    }

    /// Reads every file from its checkpoint into batches; returns early when the writer stopped.
    func read(files: [String], saved: [String: Checkpoint], into channel: BatchChannel<CSVBatch>) throws {
        var pending = files[...]
        var open: [Stream] = []
        defer { for stream in open { try? stream.handle.close() } }
        while true {
            while open.count < width, let file = pending.popFirst() {
                if let stream = try self.open(file, saved: saved[file]) { open.append(stream) }
            }
            guard !open.isEmpty else { return }
            let quota = max(1, batchSize / open.count)
            var segments: [CSVSegment] = []
            for stream in open {
                var segment = CSVSegment(firstLine: stream.lineNo + 1, checkpoint: stream.checkpoint)
                try fill(&segment, from: stream, lines: quota)
                segment.checkpoint = stream.checkpoint
                if segment.lineCount > 0 { segments.append(segment) }
            }
            for stream in open where stream.atEnd {
                try? stream.handle.close()
                logger.info("csv stream read", metadata: [
                    "stream": "\(stream.file)", "from_byte": "\(stream.startPosition)", "to_byte": "\(stream.position)",
                    "lines": "\(stream.lineNo - 1)"])
            }
            open.removeAll { $0.atEnd }
            if !segments.isEmpty { guard channel.put(CSVBatch(segments)) else { return } }
        }
    }

    /// Opens a file at its checkpoint (or its start); nil when it has no complete header yet.
    private func open(_ file: String, saved: Checkpoint?) throws -> Stream? {
        let path = (directory as NSString).appendingPathComponent(file)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw IngestError("cannot read \(path)") }
        let size = Int64(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        // A small read: opening every file of a large history must not read a MiB of each.
        var headerReader = LineReader(handle: handle, chunkSize: 4096)
        guard let headerBytes = try headerReader.nextLine() else {
            logger.warning("file has no complete header line yet", metadata: ["stream": "\(file)"])
            try? handle.close()
            return nil
        }
        let headerLine = String(decoding: headerBytes, as: UTF8.self)
        let layout: CSVLayout
        do {
            layout = try CSVLayout(header: Substring(headerLine))
        } catch {
            try? handle.close()
            throw error
        }
        let header = jsonString(String(headerLine.trimmingBlanks()))
        var position = Int64(headerBytes.count + 1)
        var lineNo: Int64 = 1
        var prefix = FNV1a()
        prefix.add(headerBytes)
        prefix.add(CollectionOfOne(UInt8(ascii: "\n")))
        if let saved {
            // Checkpoints of 1.7 and earlier carry no digest: their offset is trusted once.
            let savedDigest = saved.detail.firstMatch(of: /"prefix_fnv1a":\s*"([0-9a-f]{16})"/).map { String($0.1) }
            let digest = saved.position <= size ? try Self.digest(of: handle, count: saved.position) : nil
            if saved.position > size || !saved.detail.contains(header) {
                logger.warning("file shrank or its header changed; reading it again from the start",
                               metadata: ["stream": "\(file)", "checkpoint": "\(saved.position)", "size": "\(size)"])
            } else if let savedDigest, savedDigest != digest?.hex {
                logger.warning("file was rewritten above its checkpoint; reading it again from the start",
                               metadata: ["stream": "\(file)", "checkpoint": "\(saved.position)", "size": "\(size)"])
            } else if let digest {
                position = saved.position
                lineNo = saved.lineNo
                prefix = digest
            }
        }
        return try Stream(file: file, handle: handle, layout: layout, header: header, position: position,
                          lineNo: lineNo, prefix: prefix)
    }

    /// Reads up to `lines` non-blank lines of `stream` into `segment`.
    private func fill(_ segment: inout CSVSegment, from stream: Stream, lines: Int) throws {
        // Complete lines only: a last line without its newline may still be being written.
        while segment.lineCount < lines {
            guard let bytes = try stream.reader.nextLine() else {
                stream.atEnd = true
                return
            }
            stream.position += Int64(bytes.count + 1)
            stream.prefix.add(bytes)
            stream.prefix.add(CollectionOfOne(UInt8(ascii: "\n")))
            let content = bytes.last == 0x0D ? bytes.dropLast() : bytes
            let line = Substring(String(decoding: content, as: UTF8.self).replacingNULs())
            if line.trimmingBlanks().isEmpty { continue }
            do {
                segment.records.append(try stream.layout.record(from: line, now: now))
            } catch {
                segment.quarantined.append(QuarantinedRecord(stream: stream.file, locator: "line \(stream.lineNo + 1)",
                                                             raw: String(line), reason: error))
            }
            stream.lineNo += 1
            if segment.lineCount > 0 { segment.lines.append("\n") }
            segment.lines.append(contentsOf: line)
            segment.lineCount += 1
        }
    }
}

/// A bounded hand-off from one producer thread to one consumer: `put` blocks while `capacity`
/// items wait; `take` blocks until an item, the end, or the producer's error.
final class BatchChannel<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Hands over an item; false when the consumer has gone (the producer should stop).
    func put(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The producer is done (`error` nil) or failed.
    func finish(_ error: (any Error)?) {
        condition.lock()
        finished = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// The next item in order; nil after the last; the producer's error once its items are taken.
    func take() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished { condition.wait() }
        if !items.isEmpty {
            let item = items.removeFirst()
            condition.broadcast()
            return item
        }
        if let failure { throw failure }
        return nil
    }

    /// The consumer stopped: wakes and stops the producer.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Reads `\n`-terminated lines from a file in 1 MiB chunks, so memory stays flat whatever the
/// file's size. A trailing line without its newline is never returned.
struct LineReader {
    private let read: (Int) throws -> Data?
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    private let chunkSize: Int

    /// Reads `chunkSize` bytes at a time (a header needs far less than a data stream).
    init(handle: FileHandle, chunkSize: Int = 1 << 20) {
        self.init(chunkSize: chunkSize) { try handle.read(upToCount: $0) }
    }

    /// Reads chunks from `read` (up to the given count; nil or empty at the end).
    init(chunkSize: Int, read: @escaping (Int) throws -> Data?) {
        self.read = read
        self.chunkSize = chunkSize
    }

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
            let chunk = try read(chunkSize) ?? Data()
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
