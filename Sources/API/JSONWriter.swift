// Writes JSON straight into a byte buffer from libpq's value bytes: the /data hot path.
import Store

/// An append-only UTF-8 JSON byte buffer.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Appends text that is already valid JSON (punctuation, numbers, field names).
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends text that is already valid JSON.
    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Appends bytes that are already JSON.
    mutating func raw(_ other: [UInt8]) { bytes.append(contentsOf: other) }

    /// Appends another buffer's JSON.
    mutating func raw(_ other: JSONWriter) { bytes.append(contentsOf: other.bytes) }

    /// Appends bytes that are already valid JSON (a NUMERIC or integer value's text).
    mutating func raw(_ value: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: value) }

    /// Appends a JSON string: quotes, backslashes and control bytes escaped; UTF-8 passed through.
    mutating func string(_ value: UnsafeBufferPointer<UInt8>) {
        bytes.append(0x22)
        for byte in value {
            switch byte {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }

    /// Appends PostgreSQL's UTC `timestamptz` text (`2024-07-06 23:59:00+00`, fraction optional)
    /// as an RFC 3339 JSON string (`"2024-07-06T23:59:00Z"`) by swapping bytes.
    mutating func timestamp(_ value: UnsafeBufferPointer<UInt8>) {
        guard value.count >= 22, value[10] == 0x20, value[value.count - 3] == UInt8(ascii: "+"),
              value[value.count - 2] == 0x30, value[value.count - 1] == 0x30 else {
            string(value)
            return
        }
        bytes.append(0x22)
        bytes.append(contentsOf: value[0..<10])
        bytes.append(UInt8(ascii: "T"))
        bytes.append(contentsOf: value[11..<(value.count - 3)])
        bytes.append(UInt8(ascii: "Z"))
        bytes.append(0x22)
    }
}
