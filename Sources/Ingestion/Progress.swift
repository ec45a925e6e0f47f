// The live progress line an ETL run shows on a terminal.
import Foundation
import MarketData

/// A one-line progress display on a terminal: records so far and the rate.
final class Progress {
    private let source: Source
    private let started = Date()

    /// A display for `source` when standard error is a terminal, else nil (logs only).
    static func ifTerminal(_ source: Source) -> Progress? {
        isatty(2) == 1 ? Progress(source: source) : nil
    }

    private init(source: Source) { self.source = source }

    func update(_ counts: RunCounts) {
        let seconds = max(Date().timeIntervalSince(started), 0.001)
        let line = "\r\u{1B}[K\(source.rawValue): \(counts.fetched) records, \(counts.inserted) new, "
            + "\(counts.quarantined) quarantined, \(Int(Double(counts.fetched) / seconds))/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}
