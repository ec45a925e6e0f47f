// libFuzzer target: the /data cursor (make fuzz). Properties: any text decodes to nil or to a
// cursor whose encoding is that very text (a cursor decodes only what the API encoded); and a
// cursor made from the input's bytes (an instant, a source, a source id) encodes to text that
// decodes back to it.
import API
import MarketData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let text = String(decoding: bytes, as: UTF8.self)
    if let cursor = DataQuery.Cursor(encoded: text) {
        precondition(cursor.encoded == text, "\(text) decodes, but the API would have written \(cursor.encoded)")
    }
    guard bytes.count >= 9 else { return 0 }
    var micros: Int64 = 0
    for byte in bytes[0..<8] { micros = micros << 8 | Int64(byte) }
    let sources = Source.allCases
    let source = sources[Int(bytes[8]) % sources.count].rawValue
    let id = String(decoding: bytes[9...], as: UTF8.self)
    guard !id.isEmpty, !id.utf8.contains(0) else { return 0 }
    let made = DataQuery.Cursor(observedAt: Timestamp(microseconds: micros), source: source, sourceID: id)
    if made.encoded.count <= 1024 {
        precondition(DataQuery.Cursor(encoded: made.encoded) == made, "an encoded cursor does not decode to itself")
    }
    return 0
}
