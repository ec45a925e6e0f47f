// The responder-wide page cache: version tags, byte bound and eviction order.
@testable import API
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
}
