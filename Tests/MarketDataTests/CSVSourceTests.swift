// The CSV source's parser on hand-written quirks and on the real sample files.
import Foundation
import MarketData
import XCTest

final class CSVSourceTests: XCTestCase {
    let header: Substring = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r"
    let now = Timestamp.parseFilter("2026-01-01")!

    func testSplitsPlainAndQuotedFields() throws {
        XCTAssertEqual(try splitCSVLine("a,b,,d\r"), ["a", "b", "", "d"])
        XCTAssertEqual(try splitCSVLine("\"Coin, Inc\",\"say \"\"hi\"\"\",x"), ["Coin, Inc", "say \"hi\"", "x"])
        XCTAssertThrowsError(try splitCSVLine("\"open,b"))
    }

    func testNormalizesARowWithEveryQuirk() throws {
        let layout = try CSVLayout(header: header)
        // CRLF, e-notation market cap and price, volume 0.
        let record = try layout.record(from: "1,Dogecoin,doge,16-12-2013 23:59,0.000866,0.000150,0.000299,9.86E-05,0,6.32696E+11\r", now: now)
        XCTAssertEqual(record.source, .csv)
        XCTAssertEqual(record.sourceID, "dogecoin")
        XCTAssertEqual(record.symbol, "DOGE")
        XCTAssertEqual(record.observedAt.description, "2013-12-16T23:59:00Z")
        XCTAssertEqual(record.priceUSD?.text, "9.86E-05")
        XCTAssertEqual(record.marketCapUSD?.text, "6.32696E+11")
        XCTAssertEqual(record.volume24hUSD?.text, "0")
        XCTAssertNil(record.rank)
    }

    func testMalformedRowsSayWhy() throws {
        let layout = try CSVLayout(header: header)
        let cases: [(Substring, String)] = [
            ("1,Bitcoin,BTC,2013-04-29,1,1,1,1,0,1", "Date"),
            ("1,Bitcoin,BTC,29-04-2013 23:59,1,1,1,abc,0,1", "Close"),
            ("1,Bitcoin,BTC,29-04-2013 23:59,1,1,1,-5,0,1", "Close"),
            ("1,Bitcoin,BTC,29-04-2013 23:59,1,1,1,0,0,1", "Close"),
            ("1,Bitcoin,BTC,29-04-2013 23:59,1,1,1,5,0,-1", "Marketcap"),
            ("1,Bitcoin,BTC,29-04-1999 23:59,1,1,1,5,0,1", "Date"),
            ("1,,BTC,29-04-2013 23:59,1,1,1,5,0,1", "Name"),
            ("1,Bitcoin,BTC,29-04-2013 23:59,1,1", ""),
        ]
        for (line, field) in cases {
            XCTAssertThrowsError(try layout.record(from: line, now: now), String(line)) { error in
                let reason = error as! QuarantineReason
                XCTAssertEqual(reason.field ?? "", field, String(line))
                XCTAssertFalse(reason.message.isEmpty)
            }
        }
    }

    func testHeaderMustNameTheColumns() {
        XCTAssertThrowsError(try CSVLayout(header: "SNo,Name,Date,Close")) { error in
            XCTAssertTrue("\(error)".contains("Symbol"), "\(error)")
        }
    }

    /// Every row of every real sample file parses: 17,061 rows, none quarantined.
    func testParsesEveryRealSampleRow() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/samples/csv").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".csv") }
        XCTAssertEqual(files.count, 7)
        var rows = 0
        var eNotation = 0
        var symbols: Set<String> = []
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            XCTAssertTrue(text.contains("\r\n"), "\(file) should have CRLF line endings")
            // Split on LF bytes as the ETL does; each line keeps its CR.
            var lines = text.utf8.split(separator: UInt8(ascii: "\n")).map { Substring(String(decoding: $0, as: UTF8.self)) }
            let layout = try CSVLayout(header: lines.removeFirst())
            for line in lines {
                let record = try layout.record(from: line, now: now)
                rows += 1
                symbols.insert(record.symbol)
                if line.contains("E+") || line.contains("E-") { eNotation += 1 }
            }
        }
        XCTAssertEqual(rows, 17_061)
        XCTAssertGreaterThan(eNotation, 1_000)
        XCTAssertEqual(symbols, ["BNB", "BTC", "DOGE", "ETH", "XEM", "XLM", "XRP"])
    }
}
