// The responder-wide page cache: version tags, byte bound and eviction order.
@testable import API
import Foundation
import Synchronization
import XCTest

final class PageCacheTests: XCTestCase {
    private func entry(_ version: Int64, bytes: Int) -> PageCache.Entry {
        PageCache.Entry(version: version, tail: [UInt8](repeating: 0x20, count: bytes))
    }

    func testServesOnlyTheVersionAPageWasReadAt() {
        let cache = PageCache()
        cache.store("p1", entry(5, bytes: 10))
        XCTAssertEqual(cache.page("p1", version: 5)?.tail.count, 10)
        XCTAssertNil(cache.page("p1", version: 6), "a newer data version must miss")
        XCTAssertNil(cache.page("p2", version: 5))
    }

    func testReplacingAnEntryKeepsTheByteCount() {
        let cache = PageCache(maxBytes: 100)
        cache.store("a", entry(1, bytes: 60))
        cache.store("a", entry(2, bytes: 60))
        XCTAssertEqual(cache.page("a", version: 2)?.tail.count, 60, "a replaced entry must not count twice and evict itself")
    }

    func testEvictsOldestFirstWhenOverTheBound() {
        let cache = PageCache(maxBytes: 100)
        cache.store("a", entry(1, bytes: 40))
        cache.store("b", entry(1, bytes: 40))
        cache.store("c", entry(1, bytes: 40))
        XCTAssertNil(cache.page("a", version: 1))
        XCTAssertNotNil(cache.page("b", version: 1))
        XCTAssertNotNil(cache.page("c", version: 1))
    }

    func testTotalsAreKeptPerFilterAndVersion() throws {
        let cache = PageCache()
        XCTAssertNil(cache.total("btc"))
        cache.storeTotal("btc", version: 3, total: 120)
        let known = try XCTUnwrap(cache.total("btc"))
        XCTAssertEqual(known.version, 3)
        XCTAssertEqual(known.total, 120)
    }

    /// Runs `body` on `count` threads of their own at once (not a pool that might run them one
    /// after the other) and waits for all of them.
    private func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread { body(index); group.leave() }.start()
        }
        group.wait()
    }

    func testConcurrentMissesComputeOnce() {
        let cache = PageCache()
        let computed = Mutex(0)
        let served = Mutex([Int]())
        concurrently(8) { _ in
            let entry = try? cache.page("p", version: 1, waitSeconds: 5) {
                computed.withLock { $0 += 1 }
                Thread.sleep(forTimeInterval: 0.3)
                return PageCache.Entry(version: 1, tail: Array("x".utf8))
            }
            served.withLock { $0.append(entry?.tail.count ?? -1) }
        }
        XCTAssertEqual(computed.withLock { $0 }, 1, "one statement for eight concurrent misses")
        XCTAssertEqual(served.withLock { $0 }, Array(repeating: 1, count: 8))
        // A newer data version is a new miss.
        _ = try? cache.page("p", version: 2, waitSeconds: 5) {
            computed.withLock { $0 += 1 }
            return PageCache.Entry(version: 2, tail: [])
        }
        XCTAssertEqual(computed.withLock { $0 }, 2)
    }

    func testWaitersGiveUpAtTheDeadlineAndShareTheLeadersError() {
        struct Boom: Error {}
        let cache = PageCache()
        let outcomes = Mutex([String]())
        concurrently(4) { index in
            do {
                _ = try cache.page("slow", version: 1, waitSeconds: 0.1) {
                    Thread.sleep(forTimeInterval: 0.5)
                    throw Boom()
                }
                outcomes.withLock { $0.append("ok") }
            } catch let error as APIError {
                outcomes.withLock { $0.append(error.code) }
            } catch {
                outcomes.withLock { $0.append("boom") }
            }
        }
        let result = outcomes.withLock { $0 }.sorted()
        XCTAssertEqual(result.count, 4)
        XCTAssertEqual(result.filter { $0 == "boom" }.count, 1, "the leader sees its own error: \(result)")
        XCTAssertEqual(result.filter { $0 == "overloaded" }.count, 3, "waiters past their deadline get a 503: \(result)")
        // After a failure nothing is cached and nobody is left computing: the next request computes.
        XCTAssertEqual(try cache.page("slow", version: 1, waitSeconds: 1) { PageCache.Entry(version: 1, tail: [1]) }.tail, [1])
    }
}
