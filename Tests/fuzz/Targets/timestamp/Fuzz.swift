// libFuzzer target: the timestamp parsers (make fuzz): API filters (RFC 3339 or a date), the CSV
// source's dates and PostgreSQL's text. Properties: a value or nil, never a crash; a parsed
// filter printed (RFC 3339, UTC) parses back to the same instant.
import MarketData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    for parsed in [Timestamp.parseFilter(text), Timestamp.parseCSVDate(text), Timestamp.parsePostgres(text)] {
        guard let parsed else { continue }
        let printed = parsed.description
        // Years 0001–9999 print as four digits; outside them the text is not RFC 3339 anyway.
        if let first = printed.utf8.first, first >= 0x30, first <= 0x39, printed.utf8.count <= 27 {
            precondition(Timestamp.parseFilter(printed) == parsed, "\(printed) does not parse back to the same instant")
        }
    }
    return 0
}
