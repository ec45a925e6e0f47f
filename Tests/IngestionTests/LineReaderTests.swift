// Reading a file line by line in chunks: line ends, CR kept, a partial last line held back.
@testable import Ingestion
import Foundation
import XCTest

final class LineReaderTests: XCTestCase {
    private func lines(of bytes: [UInt8]) throws -> [String] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID()).csv")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var reader = LineReader(handle: handle)
        var out: [String] = []
        while let line = try reader.nextLine() { out.append(String(decoding: line, as: UTF8.self)) }
        return out
    }

    func testReturnsCompleteLinesOnly() throws {
        XCTAssertEqual(try lines(of: Array("a\nb\r\n\nc".utf8)), ["a", "b\r", ""], "the unterminated last line waits")
        XCTAssertEqual(try lines(of: []), [])
        XCTAssertEqual(try lines(of: Array("only partial".utf8)), [])
    }

    func testLinesSpanningChunkBoundaries() throws {
        // Lines longer than one 1 MiB read, and a line break right at the boundary.
        let long = String(repeating: "x", count: (1 << 20) + 17)
        let boundary = String(repeating: "y", count: (1 << 20) - long.utf8.count % (1 << 20) - 1)
        let text = long + "\n" + boundary + "\n" + "tail\n"
        XCTAssertEqual(try lines(of: Array(text.utf8)), [long, boundary, "tail"])
    }
}
