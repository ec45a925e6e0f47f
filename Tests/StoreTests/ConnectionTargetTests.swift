// What a conninfo names, and the host lists that leave servers out (a lagging standby).
@testable import Store
import XCTest

final class ConnectionTargetTests: XCTestCase {
    func testServersOfAURIAndOfKeywords() throws {
        let uri = try XCTUnwrap(ConnectionTarget("postgresql://api@s1:5433,s2:5434,p/kasparro?target_session_attrs=prefer-standby"))
        XCTAssertEqual(uri.servers.map { ConnectionTarget.key(host: $0.host, port: $0.port) }, ["s1:5433", "s2:5434", "p:5432"])
        XCTAssertTrue(uri.prefersStandby)
        let keywords = try XCTUnwrap(ConnectionTarget("host=a,b port=7 dbname=k"))
        XCTAssertEqual(keywords.servers.map { ConnectionTarget.key(host: $0.host, port: $0.port) }, ["a:7", "b:7"])
    }

    func testOverridesLeaveTheExcludedServersOut() {
        let conninfo = "postgresql://api@s1:5433,s2:5434,p:5432/kasparro?target_session_attrs=prefer-standby"
        XCTAssertTrue(ConnectionTarget.overrides(conninfo, excluding: []).isEmpty)
        let without = ConnectionTarget.overrides(conninfo, excluding: ["s1:5433"])
        XCTAssertEqual(without.map(\.0), ["host", "port"])
        XCTAssertEqual(without.map(\.1), ["s2,p", "5434,5432"])
        // A server the conninfo does not name changes nothing; excluding every one neither.
        XCTAssertTrue(ConnectionTarget.overrides(conninfo, excluding: ["other:5432"]).isEmpty)
        XCTAssertTrue(ConnectionTarget.overrides(conninfo, excluding: ["s1:5433", "s2:5434", "p:5432"]).isEmpty)
        // The default port is libpq's.
        XCTAssertEqual(ConnectionTarget.overrides("host=a,b dbname=k", excluding: ["a:5432"]).map(\.1), ["b", ""])
        // Servers named by address are left to libpq as they are.
        XCTAssertTrue(ConnectionTarget.overrides("hostaddr=10.0.0.1,10.0.0.2 dbname=k", excluding: ["10.0.0.1:5432"]).isEmpty)
    }
}
