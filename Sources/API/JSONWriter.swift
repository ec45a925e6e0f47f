// The one way responses are built: JSON written straight into a byte buffer, fields and values typed.
import Support

/// An append-only UTF-8 JSON byte buffer.
///
/// `field` and `element` insert the comma before a member unless it is the first of its object or
/// array, so callers write members in order without tracking separators. Values from libpq's
/// result bytes are copied without a String in between (the `/data` hot path).
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

    /// Opens an object (`{`), as a value or an array element.
    mutating func openObject() { bytes.append(UInt8(ascii: "{")) }

    /// Closes an object.
    mutating func closeObject() { bytes.append(UInt8(ascii: "}")) }

    /// Opens an array (`[`).
    mutating func openArray() { bytes.append(UInt8(ascii: "[")) }

    /// Closes an array.
    mutating func closeArray() { bytes.append(UInt8(ascii: "]")) }

    /// Starts an object member: the separating comma when needed, then `"name":`.
    mutating func field(_ name: StaticString) {
        separate()
        bytes.append(0x22)
        raw(name)
        bytes.append(0x22)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Starts an array element: the separating comma when needed.
    mutating func element() { separate() }

    /// A member whose value is a JSON string, or `null` for nil.
    mutating func field(_ name: StaticString, _ value: String?) {
        field(name)
        if let value { string(value) } else { raw("null") }
    }

    /// A member whose value is an integer.
    mutating func field(_ name: StaticString, _ value: Int64) {
        field(name)
        raw(String(value))
    }

    /// A member whose value is a boolean.
    mutating func field(_ name: StaticString, _ value: Bool) {
        field(name)
        raw(value ? "true" : "false")
    }

    /// A member whose value is text that is already JSON (an object PostgreSQL built, a formatted number).
    mutating func field(_ name: StaticString, json: String) {
        field(name)
        compact(json)
    }

    /// Appends JSON text without its insignificant whitespace, so a body PostgreSQL built
    /// (`json_build_object` writes `{"k" : v, ...}`) reads like every other: `{"k":v,...}`.
    mutating func compact(_ json: String) {
        var inString = false
        var escaped = false
        for byte in json.utf8 {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == 0x22 {
                    inString = false
                }
            } else if byte == 0x22 {
                inString = true
            } else if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                continue
            }
            bytes.append(byte)
        }
    }

    /// Appends a Swift string as a JSON string literal.
    mutating func string(_ value: String) { raw(jsonString(value)) }

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
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30,
                                          JSONWriter.hexDigits[Int(byte >> 4)], JSONWriter.hexDigits[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }

    /// Appends PostgreSQL's UTC `timestamptz` text (`2024-07-06 23:59:00+00`, fraction optional)
    /// as an RFC 3339 JSON string (`"2024-07-06T23:59:00Z"`) by swapping bytes.
    mutating func timestamp(_ value: UnsafeBufferPointer<UInt8>, quoted: Bool = true) {
        guard value.count >= 22, value[10] == 0x20, value[value.count - 3] == UInt8(ascii: "+"),
              value[value.count - 2] == 0x30, value[value.count - 1] == 0x30 else {
            if quoted { string(value) } else { csvField(value) }
            return
        }
        if quoted { bytes.append(0x22) }
        bytes.append(contentsOf: value[0..<10])
        bytes.append(UInt8(ascii: "T"))
        bytes.append(contentsOf: value[11..<(value.count - 3)])
        bytes.append(UInt8(ascii: "Z"))
        if quoted { bytes.append(0x22) }
    }

    /// A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote or a line
    /// break. Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a
    /// tab or a carriage return: a source's coin name is not ours to trust) gets a leading `'`.
    mutating func csvField(_ value: UnsafeBufferPointer<UInt8>) {
        let formula: Set<UInt8> = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D]
        let guarded = value.first.map { formula.contains($0) } ?? false
        let quote = value.contains { $0 == UInt8(ascii: ",") || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
        if quote { bytes.append(0x22) }
        if guarded { bytes.append(UInt8(ascii: "'")) }
        for byte in value {
            if byte == 0x22 { bytes.append(0x22) }
            bytes.append(byte)
        }
        if quote { bytes.append(0x22) }
    }

    /// A comma unless the member is the first inside its object or array.
    private mutating func separate() {
        if let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "[") { bytes.append(UInt8(ascii: ",")) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The buffer as text.
    var text: String { String(decoding: bytes, as: UTF8.self) }
}
