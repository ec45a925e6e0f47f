// ETL configuration: required settings and the no-password rule.
import Ingestion
import XCTest

final class ConfigTests: XCTestCase {
    func testRequiresDatabaseURL() {
        XCTAssertThrowsError(try ETLConfig(environment: [:])) { XCTAssertTrue("\($0)".contains("DATABASE_URL")) }
    }

    func testRefusesPasswordsInTheURL() {
        XCTAssertTrue(ETLConfig.containsPassword("postgresql://etl:secret@db/kasparro"))
        XCTAssertTrue(ETLConfig.containsPassword("host=db password=secret"))
        XCTAssertFalse(ETLConfig.containsPassword("postgresql://etl@db:5432/kasparro"))
        XCTAssertFalse(ETLConfig.containsPassword("host=db user=etl"))
        XCTAssertThrowsError(try ETLConfig(environment: ["DATABASE_URL": "postgresql://etl:pw@db/k"]))
    }

    func testFailureInjectionSetting() throws {
        let config = try ETLConfig(environment: ["DATABASE_URL": "host=db", "ETL_FAIL_AFTER_N_RECORDS": "25"])
        XCTAssertEqual(config.failAfter, 25)
        XCTAssertThrowsError(try ETLConfig(environment: ["DATABASE_URL": "host=db", "ETL_FAIL_AFTER_N_RECORDS": "x"]))
    }
}

/// Every kind of setting refuses a bad value with its name, instead of falling back to a default.
final class BadSettingsTests: XCTestCase {
    private func refuses(_ name: String, _ value: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ETLConfig(environment: ["DATABASE_URL": "host=db", name: value]), file: file, line: line) {
            XCTAssertTrue("\($0)".hasPrefix(name + " must be"), "\($0)", file: file, line: line)
        }
    }

    func testIntegers() {
        refuses("ETL_BATCH_SIZE", "abc")
        refuses("ETL_BATCH_SIZE", "0")
        refuses("COINGECKO_MAX_PAGES", "1.5")
        refuses("ETL_HTTP_TIMEOUT", "-1")
        refuses("ETL_FAIL_AFTER_N_RECORDS", "x")
    }

    func testNumbers() {
        refuses("SCHEMA_DRIFT_RENAME_THRESHOLD", "abc")
        refuses("SCHEMA_DRIFT_RENAME_THRESHOLD", "1.5")
    }

    func testChoices() {
        refuses("COINGECKO_API_PLAN", "gold")
        refuses("ETL_TRIGGER", "cron")
    }

    func testGoodValuesAreUsed() throws {
        let config = try ETLConfig(environment: ["DATABASE_URL": "host=db", "ETL_BATCH_SIZE": "250",
                                                 "SCHEMA_DRIFT_RENAME_THRESHOLD": "0.9", "COINGECKO_API_PLAN": "pro"])
        XCTAssertEqual(config.batchSize, 250)
        XCTAssertEqual(config.driftRenameThreshold, 0.9)
        XCTAssertTrue(config.coingecko.baseURL.contains("pro-api"))
    }
}
