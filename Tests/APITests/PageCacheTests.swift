// The responder-wide page cache: version tags, byte bound and eviction order.
@testable import API
import Foundation
import Store
import Synchronization
import XCTest

final class PageCacheTests: XCTestCase {
    private func entry(_ version: Int64, bytes: Int) -> PageCache.Entry {
        PageCache.Entry(version: version, tail: [UInt8](repeating: 0x20, count: bytes))
    }

    /// The page for `key` at `version`, and whether this call had to compute it (a miss).
    private func fetch(_ cache: PageCache, _ key: String, _ version: Int64, bytes: Int = 10) -> (entry: PageCache.Entry?, missed: Bool) {
        var missed = false
        let entry = try? cache.page(key, version: version, waitSeconds: 1) {
            missed = true
            return self.entry(version, bytes: bytes)
        }
        return (entry, missed)
    }

    func testServesOnlyTheVersionAPageWasReadAt() {
        let cache = PageCache()
        XCTAssertTrue(fetch(cache, "p1", 5).missed)
        XCTAssertFalse(fetch(cache, "p1", 5).missed)
        XCTAssertTrue(fetch(cache, "p1", 6).missed, "a newer data version must miss")
        XCTAssertFalse(fetch(cache, "p1", 5).missed, "a page read at a newer version serves an older request")
        XCTAssertTrue(fetch(cache, "p2", 6).missed)
    }

    func testReplacingAnEntryKeepsTheByteCount() {
        let cache = PageCache(maxBytes: 100)
        _ = fetch(cache, "a", 1, bytes: 60)
        _ = fetch(cache, "a", 2, bytes: 60)
        XCTAssertFalse(fetch(cache, "a", 2).missed, "a replaced entry must not count twice and evict itself")
    }

    func testEvictsOldestFirstWhenOverTheBound() {
        let cache = PageCache(maxBytes: 100)
        for key in ["a", "b", "c"] { _ = fetch(cache, key, 1, bytes: 40) }
        XCTAssertFalse(fetch(cache, "c", 1).missed)
        XCTAssertFalse(fetch(cache, "b", 1).missed)
        XCTAssertTrue(fetch(cache, "a", 1).missed, "the oldest entry went first")
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
            } catch is PageCache.SharedFailure {
                outcomes.withLock { $0.append("shared") }
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

    func testAWaiterGetsTheLeadersErrorAsSharedAndAnswersWithItsMapping() {
        let cache = PageCache()
        let outcomes = Mutex([String]())
        concurrently(3) { _ in
            do {
                _ = try cache.page("down", version: 1, waitSeconds: 5) {
                    Thread.sleep(forTimeInterval: 0.3)
                    throw DatabaseError(.connection, detail: "server closed the connection")
                }
            } catch let shared as PageCache.SharedFailure {
                outcomes.withLock { $0.append("shared:" + ReadSession.clientError(shared).code) }
            } catch {
                outcomes.withLock { $0.append("own:" + ReadSession.clientError(error).code) }
            }
        }
        XCTAssertEqual(outcomes.withLock { $0 }.sorted(),
                       ["own:database_unavailable", "shared:database_unavailable", "shared:database_unavailable"])
    }

    func testARememberedQueryStringHitsWithoutParsingOnlyWhileItsPageIsCurrent() {
        let cache = PageCache()
        XCTAssertNil(cache.hit(query: "page_size=5", representation: .json, version: 1), "never parsed: no shortcut")
        _ = fetch(cache, "p1,5|||||", 3)
        cache.remember(query: "page_size=5", key: "p1,5|||||")
        XCTAssertEqual(cache.key(forQuery: "page_size=5"), "p1,5|||||")
        XCTAssertNotNil(cache.hit(query: "page_size=5", representation: .json, version: 3))
        XCTAssertNotNil(cache.hit(query: "page_size=5", representation: .json, version: 2), "a newer page serves an older version")
        XCTAssertNil(cache.hit(query: "page_size=5", representation: .json, version: 4), "a newer data version must miss")
        XCTAssertNil(cache.hit(query: "page_size=05", representation: .json, version: 3), "another spelling is parsed on its own")
    }

    func testRemoveAllForgetsPagesTotalsAndQueryStrings() {
        let cache = PageCache()
        _ = fetch(cache, "k", 9)
        cache.remember(query: "q", key: "k")
        cache.storeTotal("f", version: 9, total: 1)
        cache.removeAll()
        XCTAssertNil(cache.hit(query: "q", representation: .json, version: 1))
        XCTAssertNil(cache.key(forQuery: "q"))
        XCTAssertNil(cache.total("f"))
        XCTAssertTrue(fetch(cache, "k", 1).missed, "after a version regression even an old version misses")
    }
}

/// `/health`'s one-second cache: one computation per interval, shared by concurrent callers.
final class RecentTests: XCTestCase {
    func testOneComputationPerIntervalSharedByConcurrentCallers() {
        let recent = Recent<Int>(maxAge: 0.5, waitSeconds: 5)
        let computed = Mutex(0)
        let answers = Mutex([Int]())
        let group = DispatchGroup()
        for _ in 0..<8 {
            group.enter()
            Thread {
                let value = recent.get {
                    Thread.sleep(forTimeInterval: 0.1)
                    return computed.withLock { $0 += 1; return $0 }
                }
                answers.withLock { $0.append(value) }
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(computed.withLock { $0 }, 1)
        XCTAssertEqual(answers.withLock { $0 }, Array(repeating: 1, count: 8))
        XCTAssertEqual(recent.get { computed.withLock { $0 += 1; return $0 } }, 1, "still fresh")
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(recent.get { computed.withLock { $0 += 1; return $0 } }, 2, "older than maxAge: computed again")
    }

    func testAStuckComputationDoesNotHoldOthersPastTheirWait() {
        let recent = Recent<String>(maxAge: 1, waitSeconds: 0.1)
        let group = DispatchGroup()
        group.enter()
        Thread {
            _ = recent.get { Thread.sleep(forTimeInterval: 0.6); return "slow" }
            group.leave()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        let started = Date()
        XCTAssertEqual(recent.get { "own" }, "own")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.4)
        group.wait()
    }
}
