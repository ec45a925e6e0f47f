// libFuzzer target: the CSV header and row parser (make fuzz). Input: a header line, `\n`, data
// lines. Properties: a layout or a QuarantineReason for the header; for each line a record or a
// QuarantineReason naming what is wrong, never a crash; a record's numbers are valid decimals.
import MarketData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
    guard let header = lines.popFirst() else { return 0 }
    // The real header, when the input's own does not parse: the rows still get exercised.
    let layout = (try? CSVLayout(header: header))
        ?? (try! CSVLayout(header: "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap"))
    let now = Timestamp(microseconds: 1_700_000_000_000_000)
    for line in lines {
        do {
            let record = try layout.record(from: line, now: now)
            if let price = record.priceUSD {
                precondition(DecimalText(price.text) == price, "a record's price is not a decimal as written")
            }
        } catch {
            precondition(!error.message.isEmpty, "a rejection without a reason")
        }
    }
    return 0
}
