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
        let without = Dictionary(uniqueKeysWithValues: ConnectionTarget.overrides(conninfo, excluding: ["s1:5433"]))
        XCTAssertEqual(without, ["host": "s2,p", "port": "5434,5432"])
        // A server the conninfo does not name changes nothing; excluding every one neither.
        XCTAssertTrue(ConnectionTarget.overrides(conninfo, excluding: ["other:5432"]).isEmpty)
        XCTAssertTrue(ConnectionTarget.overrides(conninfo, excluding: ["s1:5433", "s2:5434", "p:5432"]).isEmpty)
        // The default port is libpq's.
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: ConnectionTarget.overrides("host=a,b dbname=k", excluding: ["a:5432"])),
                       ["host": "b", "port": ""])
        // Servers named by address (what PQhost gives when there is no host name) keep their lists aligned.
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: ConnectionTarget.overrides(
            "hostaddr=10.0.0.1,10.0.0.2 port=1,2 dbname=k", excluding: ["10.0.0.1:1"])), ["hostaddr": "10.0.0.2", "port": "2"])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: ConnectionTarget.overrides(
            "host=a,b hostaddr=10.0.0.1,10.0.0.2 dbname=k", excluding: ["b:5432"])), ["host": "a", "hostaddr": "10.0.0.1", "port": ""])
    }
}
