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
