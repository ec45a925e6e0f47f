// A responder-wide cache of rendered /data pages, valid only for the data version they were read at.
import Synchronization

/// Rendered pages keyed by their normalized query, each tagged with the `data_version` it was read
/// at. A page is served only when the database's current version still equals its tag, so it is
/// never older than the last ETL commit. Shared by a responder's threads; bounded in bytes, oldest
/// entries evicted first.
public final class PageCache: Sendable {
    struct Entry: Sendable {
        let version: Int64
        /// Everything after the envelope: `,"data":[…],"total":…,…}`.
        let tail: [UInt8]
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var bytes = 0
        var totals: [String: (version: Int64, total: Int64)] = [:]
    }

    private let state = Mutex(State())
    private let maxBytes: Int

    /// Creates a cache holding at most `maxBytes` of page bodies.
    public init(maxBytes: Int = 32 << 20) { self.maxBytes = maxBytes }

    func page(_ key: String, version: Int64) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.version == version else { return nil }
            return entry
        }
    }

    func store(_ key: String, _ entry: Entry) {
        state.withLock { state in
            if let old = state.entries[key] {
                state.bytes -= old.tail.count
            } else {
                state.order.append(key)
            }
            state.entries[key] = entry
            state.bytes += entry.tail.count
            while state.bytes > maxBytes, !state.order.isEmpty {
                let oldest = state.order.removeFirst()
                if let removed = state.entries.removeValue(forKey: oldest) { state.bytes -= removed.tail.count }
            }
        }
    }

    func total(_ filterKey: String) -> (version: Int64, total: Int64)? {
        state.withLock { $0.totals[filterKey] }
    }

    func storeTotal(_ filterKey: String, version: Int64, total: Int64) {
        state.withLock { state in
            if state.totals.count > 10_000 { state.totals.removeAll() }
            state.totals[filterKey] = (version, total)
        }
    }
}
