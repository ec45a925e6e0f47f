// API metrics for a whole responder pool: counters in a shared-memory file every responder maps.
import Atomics
import Glibc

/// Request counters, latency histograms, database errors and in-flight requests, kept in a small
/// file mapped `MAP_SHARED` by every responder of the pool, updated with atomic adds. Any
/// responder answering a scrape therefore reports the whole pool, and a restarted responder
/// continues the same counters (they reset only when the file is removed, like a reboot).
public final class SharedMetrics: @unchecked Sendable {
    /// Endpoint labels; any other path counts as `other`.
    public static let endpoints = ["/", "/health", "/data", "/stats", "/runs", "/compare-runs", "/metrics", "/openapi.json", "other"]
    /// Status labels; any other status counts as `other`.
    public static let statuses = [200, 400, 401, 404, 405, 429, 500, 503]
    /// Histogram bucket upper bounds in seconds (`+Inf` is implied).
    public static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private static let magic: UInt64 = 0x6B61_7370_6D65_7406  // "kaspmet" + layout version 6
    private static let statusSlots = statuses.count + 1
    private static let histogramSlots = buckets.count + 1 + 2  // buckets, +Inf, sum (µs), count
    private static let requestBase = 1
    private static let histogramBase = requestBase + endpoints.count * statusSlots
    private static let inFlightSlot = histogramBase + endpoints.count * histogramSlots
    private static let databaseErrorSlot = inFlightSlot + 1
    private static let writeFailureSlot = databaseErrorSlot + 1
    private static let pageStatementSlot = writeFailureSlot + 1
    private static let versionCheckSlot = pageStatementSlot + 1
    private static let listenerConnectSlot = versionCheckSlot + 1
    /// (pid, worker threads, page-cache bytes, page-cache entries), one per running responder: the
    /// pool's capacity and what its caches hold.
    private static let processSlots = 64
    private static let processStride = 4
    private static let processBase = listenerConnectSlot + 1
    private static let slotCount = processBase + processSlots * processStride
    private static let byteCount = slotCount * MemoryLayout<UnsafeAtomic<UInt64>.Storage>.stride

    private let base: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    /// Whether `base` is a mapping of the file (unmapped on deinit) or process memory (freed).
    private let mapped: Bool
    /// This process's slot, found once at registration (-1 before): the cache gauges write there.
    private let ownSlot = ManagedAtomic<Int>(-1)

    /// Maps (creating if needed) the metrics file at `path`. A file left by another layout (an
    /// older release) is replaced: its counters restart, as after a reboot, instead of the
    /// responder refusing to start; responders still running the old release keep their mapping.
    public init(path: String) throws(MetricsError) {
        func failure(_ what: String) -> MetricsError { MetricsError("cannot \(what) \(path): \(String(cString: strerror(errno)))") }
        var attempts = 0
        while true {
            attempts += 1
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw failure("open") }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw failure("stat") }
            var header: UInt64 = 0
            if Int(info.st_size) >= 8, pread(fd, &header, 8, 0) == 8, header != 0, header != SharedMetrics.magic {
                // Unlink only the file we looked at: another responder may already have replaced it.
                var current = stat()
                if attempts < 4, stat(path, &current) == 0, current.st_ino == info.st_ino, current.st_dev == info.st_dev {
                    unlink(path)
                }
                guard attempts < 4 else { throw MetricsError("\(path) holds metrics of another layout and could not be replaced") }
                continue
            }
            // A mapping past the end of a short file would raise SIGBUS on first touch.
            if Int(info.st_size) < SharedMetrics.byteCount {
                guard ftruncate(fd, off_t(SharedMetrics.byteCount)) == 0 else { throw failure("extend") }
            }
            guard let memory = mmap(nil, SharedMetrics.byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), memory != MAP_FAILED else {
                throw failure("map")
            }
            base = memory.bindMemory(to: UnsafeAtomic<UInt64>.Storage.self, capacity: SharedMetrics.slotCount)
            mapped = true
            // A new (zero) file gets its magic.
            _ = slot(0).compareExchange(expected: 0, desired: SharedMetrics.magic, ordering: .relaxed)
            return
        }
    }

    private init(processLocal: Void) {
        base = .allocate(capacity: SharedMetrics.slotCount)
        base.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: SharedMetrics.slotCount)
        mapped = false
    }

    deinit {
        if mapped {
            munmap(base, SharedMetrics.byteCount)
        } else {
            base.deallocate()
        }
    }

    /// A process-local instance in ordinary memory (tests, or when no file is configured).
    public static func inMemory() -> SharedMetrics { SharedMetrics(processLocal: ()) }

    private func slot(_ index: Int) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: base + index) }

    private static func endpointIndex(_ path: String) -> Int { endpoints.firstIndex(of: path) ?? endpoints.count - 1 }

    /// Counts one finished request.
    public func record(path: String, status: Int, seconds: Double) {
        let endpoint = SharedMetrics.endpointIndex(path)
        let statusIndex = SharedMetrics.statuses.firstIndex(of: status) ?? SharedMetrics.statuses.count
        slot(SharedMetrics.requestBase + endpoint * SharedMetrics.statusSlots + statusIndex).wrappingIncrement(ordering: .relaxed)
        let histogram = SharedMetrics.histogramBase + endpoint * SharedMetrics.histogramSlots
        let bucket = SharedMetrics.buckets.firstIndex { seconds <= $0 } ?? SharedMetrics.buckets.count
        slot(histogram + bucket).wrappingIncrement(ordering: .relaxed)
        slot(histogram + SharedMetrics.buckets.count + 1).wrappingIncrement(by: UInt64(max(0, seconds * 1_000_000)), ordering: .relaxed)
        slot(histogram + SharedMetrics.buckets.count + 2).wrappingIncrement(ordering: .relaxed)
    }

    /// A request started (+1) or finished (-1).
    public func inFlight(_ delta: Int) {
        slot(SharedMetrics.inFlightSlot).wrappingIncrement(by: UInt64(bitPattern: Int64(delta)), ordering: .relaxed)
    }

    /// A database statement or connection failed.
    public func databaseError() { slot(SharedMetrics.databaseErrorSlot).wrappingIncrement(ordering: .relaxed) }

    private func processSlot(_ index: Int, _ field: Int) -> UnsafeAtomic<UInt64> {
        slot(SharedMetrics.processBase + index * SharedMetrics.processStride + field)
    }

    /// Records this process's worker threads in the pool's capacity (call once at start). A slot
    /// left by a process that died without `unregisterProcess` is reused.
    public func registerProcess(threads: Int) {
        let pid = UInt64(getpid())
        for index in 0..<SharedMetrics.processSlots {
            let holder = processSlot(index, 0).load(ordering: .acquiring)
            guard holder == 0 || !SharedMetrics.isAlive(holder) else { continue }
            if processSlot(index, 0).compareExchange(expected: holder, desired: pid, ordering: .acquiringAndReleasing).exchanged {
                processSlot(index, 1).store(UInt64(threads), ordering: .releasing)
                processSlot(index, 2).store(0, ordering: .releasing)
                processSlot(index, 3).store(0, ordering: .releasing)
                ownSlot.store(index, ordering: .releasing)
                return
            }
        }
    }

    /// Takes this process out of the pool's capacity (call when it stops).
    public func unregisterProcess() {
        let pid = UInt64(getpid())
        for index in 0..<SharedMetrics.processSlots where processSlot(index, 0).load(ordering: .acquiring) == pid {
            for field in 1..<SharedMetrics.processStride { processSlot(index, field).store(0, ordering: .releasing) }
            processSlot(index, 0).store(0, ordering: .releasing)
        }
        ownSlot.store(-1, ordering: .releasing)
    }

    /// What this process's page cache holds now (its bytes and entries), for the pool's gauges.
    public func pageCache(bytes: Int, entries: Int) {
        let index = ownSlot.load(ordering: .acquiring)
        guard index >= 0 else { return }
        processSlot(index, 2).store(UInt64(max(0, bytes)), ordering: .relaxed)
        processSlot(index, 3).store(UInt64(max(0, entries)), ordering: .relaxed)
    }

    /// The sum of `field` over the responders that are alive now.
    private func sumOverProcesses(_ field: Int) -> UInt64 {
        (0..<SharedMetrics.processSlots).reduce(0) { sum, index in
            let pid = processSlot(index, 0).load(ordering: .acquiring)
            guard pid != 0, SharedMetrics.isAlive(pid) else { return sum }
            return sum + processSlot(index, field).load(ordering: .relaxed)
        }
    }

    /// Worker threads of the responders that are alive now.
    public var poolThreads: UInt64 { sumOverProcesses(1) }

    /// Whether `pid` names a running process (EPERM: running, under another user).
    private static func isAlive(_ pid: UInt64) -> Bool {
        kill(pid_t(truncatingIfNeeded: pid), 0) == 0 || errno == EPERM
    }

    /// A `/data` page missed the cache and its statement ran.
    public func pageStatement() { slot(SharedMetrics.pageStatementSlot).wrappingIncrement(ordering: .relaxed) }

    /// A request asked the database for the data version (the version listener was not trusted).
    public func versionCheck() { slot(SharedMetrics.versionCheckSlot).wrappingIncrement(ordering: .relaxed) }

    /// A responder's version listener connected (at start, and after each loss).
    public func listenerConnected() { slot(SharedMetrics.listenerConnectSlot).wrappingIncrement(ordering: .relaxed) }

    /// A response could not be written to nginx (the client or nginx went away).
    public func writeFailure() { slot(SharedMetrics.writeFailureSlot).wrappingIncrement(ordering: .relaxed) }

    /// The pool's API metrics in Prometheus text format.
    public func render() -> String {
        var out = "# HELP kasparro_api_requests_total API requests answered by the responder pool.\n"
        out += "# TYPE kasparro_api_requests_total counter\n"
        for (e, endpoint) in SharedMetrics.endpoints.enumerated() {
            for s in 0..<SharedMetrics.statusSlots {
                let value = slot(SharedMetrics.requestBase + e * SharedMetrics.statusSlots + s).load(ordering: .relaxed)
                guard value > 0 else { continue }
                let status = s < SharedMetrics.statuses.count ? String(SharedMetrics.statuses[s]) : "other"
                out += "kasparro_api_requests_total{endpoint=\"\(endpoint)\",status=\"\(status)\"} \(value)\n"
            }
        }
        out += "# HELP kasparro_api_request_duration_seconds Time from request to response, in the responder.\n"
        out += "# TYPE kasparro_api_request_duration_seconds histogram\n"
        for (e, endpoint) in SharedMetrics.endpoints.enumerated() {
            let histogram = SharedMetrics.histogramBase + e * SharedMetrics.histogramSlots
            let count = slot(histogram + SharedMetrics.buckets.count + 2).load(ordering: .relaxed)
            guard count > 0 else { continue }
            var cumulative: UInt64 = 0
            for (b, bound) in SharedMetrics.buckets.enumerated() {
                cumulative += slot(histogram + b).load(ordering: .relaxed)
                out += "kasparro_api_request_duration_seconds_bucket{endpoint=\"\(endpoint)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += slot(histogram + SharedMetrics.buckets.count).load(ordering: .relaxed)
            out += "kasparro_api_request_duration_seconds_bucket{endpoint=\"\(endpoint)\",le=\"+Inf\"} \(cumulative)\n"
            let micros = slot(histogram + SharedMetrics.buckets.count + 1).load(ordering: .relaxed)
            out += "kasparro_api_request_duration_seconds_sum{endpoint=\"\(endpoint)\"} \(Double(micros) / 1_000_000)\n"
            out += "kasparro_api_request_duration_seconds_count{endpoint=\"\(endpoint)\"} \(cumulative)\n"
        }
        let inFlight = Int64(bitPattern: slot(SharedMetrics.inFlightSlot).load(ordering: .relaxed))
        let single: [(name: String, type: String, help: String, value: String)] = [
            ("kasparro_api_in_flight_requests", "gauge", "Requests being answered right now, pool-wide.", "\(inFlight)"),
            ("kasparro_api_threads", "gauge", "Worker threads of the running responders (saturation: in flight over threads).",
             "\(poolThreads)"),
            ("kasparro_api_database_errors_total", "counter", "Failed database statements and connections.",
             "\(slot(SharedMetrics.databaseErrorSlot).load(ordering: .relaxed))"),
            ("kasparro_api_page_statements_total", "counter",
             "/data pages read from the database (cache misses; one per page and data version per responder).",
             "\(slot(SharedMetrics.pageStatementSlot).load(ordering: .relaxed))"),
            ("kasparro_api_version_checks_total", "counter",
             "Requests that asked the database for the data version (no trusted version listener).",
             "\(slot(SharedMetrics.versionCheckSlot).load(ordering: .relaxed))"),
            ("kasparro_api_version_listener_connects_total", "counter",
             "Version listener connections made by responders (one per start, one per reconnection).",
             "\(slot(SharedMetrics.listenerConnectSlot).load(ordering: .relaxed))"),
            ("kasparro_api_write_failures_total", "counter", "Responses that could not be written to nginx (client gone).",
             "\(slot(SharedMetrics.writeFailureSlot).load(ordering: .relaxed))"),
            ("kasparro_api_page_cache_bytes", "gauge", "Page bodies held by the running responders' caches (each bounded).",
             "\(sumOverProcesses(2))"),
            ("kasparro_api_page_cache_entries", "gauge", "Pages held by the running responders' caches.",
             "\(sumOverProcesses(3))"),
        ]
        for metric in single {
            out += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n\(metric.name) \(metric.value)\n"
        }
        return out
    }
}

/// The metrics file could not be used.
public struct MetricsError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
    init(_ description: String) { self.description = description }
}
