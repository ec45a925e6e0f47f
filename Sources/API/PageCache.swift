// A responder-wide cache of rendered /data pages, valid only for the data version they were read at,
// with single flight: concurrent misses for one page run its statement once.
import Foundation
import Synchronization

/// Rendered pages keyed by their normalized query, each tagged with the `data_version` it was read
/// at. A page is served only when the database's current version still equals its tag, so it is
/// never older than the last ETL commit. Shared by a responder's threads; bounded in bytes, oldest
/// entries evicted first.
///
/// After an ETL commit every thread misses at once; without coordination each would run the same
/// statement (a stampede). Here the first miss for a page and version computes it and the others
/// wait for that result, up to a deadline, then give up with `APIError.overloaded`.
public final class PageCache: Sendable {
    struct Entry: Sendable {
        let version: Int64
        /// JSON: everything after the envelope, `,"data":[…],"total":…,…}`; CSV: the whole body.
        let tail: [UInt8]
        /// The exact total of the page's filter.
        var total: Int64 = 0
        /// The next page's path and query (`/data?…&cursor=…`), when there is one.
        var next: String? = nil
    }

    /// One page being computed: the waiting threads sleep on its condition.
    private final class Flight: @unchecked Sendable {
        private let condition = NSCondition()
        private var outcome: Result<Entry, any Error>?

        func finish(_ result: Result<Entry, any Error>) {
            condition.lock()
            outcome = result
            condition.broadcast()
            condition.unlock()
        }

        /// The leader's result, or nil when `deadline` passed first.
        func wait(until deadline: Date) -> Result<Entry, any Error>? {
            condition.lock()
            defer { condition.unlock() }
            while outcome == nil {
                if !condition.wait(until: deadline) { break }
            }
            return outcome
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var bytes = 0
        var totals: [String: (version: Int64, total: Int64)] = [:]
        var flights: [String: Flight] = [:]
        /// Query strings already parsed, to their page keys: a repeated request skips parsing.
        var parsed: [String: String] = [:]
    }

    private enum Role {
        case hit(Entry)
        case leader(Flight)
        case follower(Flight)
    }

    private let state = Mutex(State())
    private let maxBytes: Int

    /// Told the cache's bytes and entries after every change (the pool's metrics).
    private let onSize: @Sendable (_ bytes: Int, _ entries: Int) -> Void

    /// Creates a cache holding at most `maxBytes` of page bodies.
    public init(maxBytes: Int = 32 << 20, onSize: @escaping @Sendable (_ bytes: Int, _ entries: Int) -> Void = { _, _ in }) {
        self.maxBytes = maxBytes
        self.onSize = onSize
    }

    /// What a waiting thread gets when the thread computing its page failed: the leader's own
    /// error, for the caller to answer with, not to act on (its connection is not the one that failed).
    struct SharedFailure: Error {
        let underlying: any Error
    }

    /// The page for `key` at `version`: from the cache, or computed by `compute` on this thread,
    /// or (when another thread is computing it) that thread's result, waited for at most
    /// `waitSeconds`. The computed entry is stored; an error reaches every waiting thread as a
    /// `SharedFailure`. A page read at a newer version than `version` is served as well.
    func page(_ key: String, version: Int64, waitSeconds: Double, compute: () throws -> Entry) throws -> Entry {
        let flightKey = "\(version)|\(key)"
        let role: Role = state.withLock { state in
            if let entry = state.entries[key], entry.version >= version { return .hit(entry) }
            if let flight = state.flights[flightKey] { return .follower(flight) }
            let flight = Flight()
            state.flights[flightKey] = flight
            return .leader(flight)
        }
        switch role {
        case .hit(let entry):
            return entry
        case .follower(let flight):
            switch flight.wait(until: Date(timeIntervalSinceNow: waitSeconds)) {
            case .success(let entry)?: return entry
            case .failure(let error)?: throw SharedFailure(underlying: error)
            case nil: throw APIError.overloaded
            }
        case .leader(let flight):
            let outcome = Result { try compute() }
            if case .success(let entry) = outcome { store(key, entry) }
            state.withLock { _ = $0.flights.removeValue(forKey: flightKey) }
            flight.finish(outcome)
            return try outcome.get()
        }
    }

    private func store(_ key: String, _ entry: Entry) {
        let size: (Int, Int)? = state.withLock { state in
            if let old = state.entries[key] {
                // A slower thread's page read at an older version never replaces a newer one.
                guard old.version <= entry.version else { return nil }
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
            return (state.bytes, state.entries.count)
        }
        if let size { onSize(size.0, size.1) }
    }

    /// The cached page of a query string parsed before, in `representation`, when it is at least at
    /// `version`: the whole cached path under one lock acquisition.
    func hit(query: String, representation: Representation, version: Int64) -> (key: String, entry: Entry)? {
        state.withLock { state in
            guard let parsed = state.parsed[query] else { return nil }
            let key = representation.key(parsed)
            guard let entry = state.entries[key], entry.version >= version else { return nil }
            return (key, entry)
        }
    }

    /// The page key of a query string parsed (and found valid) before, if any.
    func key(forQuery query: String) -> String? {
        state.withLock { $0.parsed[query] }
    }

    /// Remembers that `query` parses to the page key `key` (at most 10,000 query strings).
    func remember(query: String, key: String) {
        state.withLock { state in
            if state.parsed.count >= 10_000 { state.parsed.removeAll(keepingCapacity: true) }
            state.parsed[query] = key
        }
    }

    /// Drops every page and total (the data version went backwards: the database was restored).
    public func removeAll() {
        state.withLock { state in
            state.entries.removeAll()
            state.order.removeAll()
            state.bytes = 0
            state.totals.removeAll()
            state.parsed.removeAll()
        }
        onSize(0, 0)
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
