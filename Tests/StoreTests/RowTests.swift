// Typed row access: values by column name, and every mismatch a DatabaseError rather than a crash.
@testable import Store
import XCTest

final class RowTests: XCTestCase {
    private enum Status: String { case running, failed }

    private let row = Row(names: ColumnNames(["id", "name", "seconds", "ok", "status", "missing"]),
                          values: ["42", "btc", "1.5", "t", "failed", nil])

    func testReadsEachTypeByName() throws {
        XCTAssertEqual(try row.get("id", as: Int64.self), 42)
        XCTAssertEqual(try row.get("id", as: Int.self), 42)
        XCTAssertEqual(try row.get("name", as: String.self), "btc")
        XCTAssertEqual(try row.get("seconds", as: Double.self), 1.5)
        XCTAssertEqual(try row.get("ok", as: Bool.self), true)
        XCTAssertEqual(try row.get("status", as: Status.self), .failed)
        XCTAssertNil(try row.optional("missing", as: Int64.self))
        XCTAssertEqual(try row.optional("id", as: Int64.self), 42)
    }

    func testMismatchesThrowResultErrors() {
        for (column, reason) in [("nope", "no column"), ("missing", "is NULL"), ("name", "is not a Int64")] {
            XCTAssertThrowsError(try row.get(column, as: Int64.self)) { error in
                let database = error as? DatabaseError
                XCTAssertEqual(database?.kind, .result, column)
                XCTAssertTrue(database?.debugDescription.contains(reason) == true, "\(column): \(String(describing: database))")
                XCTAssertEqual(database?.description, "unexpected database result")
            }
        }
        XCTAssertThrowsError(try row.get("name", as: Status.self))
        XCTAssertThrowsError(try row.get("seconds", as: Bool.self))
    }

    func testDuplicateColumnNamesResolveToTheFirst() throws {
        let twice = Row(names: ColumnNames(["v", "v"]), values: ["1", "2"])
        XCTAssertEqual(try twice.get("v", as: Int.self), 1)
    }
}
