// LOG_LEVEL: known names and `warn` work; anything else is an error naming the variable.
import Support
import Telemetry
import XCTest

final class LogLevelTests: XCTestCase {
    func testLevels() throws {
        XCTAssertEqual(try JSONLogHandler.level(EnvironmentSettings([:])), .info)
        XCTAssertEqual(try JSONLogHandler.level(EnvironmentSettings(["LOG_LEVEL": "DEBUG"])), .debug)
        XCTAssertEqual(try JSONLogHandler.level(EnvironmentSettings(["LOG_LEVEL": "warn"])), .warning)
        XCTAssertThrowsError(try JSONLogHandler.level(EnvironmentSettings(["LOG_LEVEL": "loud"]))) {
            XCTAssertTrue("\($0)".hasPrefix("LOG_LEVEL must be one of"), "\($0)")
        }
    }
}
