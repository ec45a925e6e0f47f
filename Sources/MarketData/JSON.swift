// A small JSON parser that keeps numbers as their source text, so no digit is lost to Double.

/// A parsed JSON value. Numbers keep their exact text (`3.84e-18`, `440000000000000000`).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The JSON type name: `null`, `boolean`, `number`, `string`, `array`, `object`.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// Why a payload is not valid JSON, with the byte offset.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let message: String
    /// Byte offset in the input.
    public let offset: Int
    /// `message at byte N`.
    public var description: String { "\(message) at byte \(offset)" }
}

/// Parses JSON text (RFC 8259) into `JSONValue`s.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    /// Parses a whole document.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// Parses a document that must be an array, returning each element with its exact source text
    /// (kept as the raw payload of that record).
    public static func parseArrayElements(_ bytes: [UInt8]) throws(JSONError) -> [(value: JSONValue, raw: ArraySlice<UInt8>)] {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        guard parser.peek == UInt8(ascii: "[") else {
            throw parser.error(parser.index >= bytes.count ? "empty body, expected a JSON array" : "expected a JSON array")
        }
        parser.index += 1
        var elements: [(JSONValue, ArraySlice<UInt8>)] = []
        parser.skipSpace()
        if parser.peek == UInt8(ascii: "]") {
            parser.index += 1
        } else {
            while true {
                parser.skipSpace()
                let start = parser.index
                let value = try parser.value()
                elements.append((value, bytes[start..<parser.index]))
                parser.skipSpace()
                guard let next = parser.peek else { throw parser.error("unterminated array (truncated body?)") }
                parser.index += 1
                if next == UInt8(ascii: "]") { break }
                guard next == UInt8(ascii: ",") else { throw parser.error("expected , or ] in array") }
            }
        }
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON array") }
        return elements
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: index) }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func value() throws(JSONError) -> JSONValue {
        guard let byte = peek else { throw error("unexpected end of input (truncated body?)") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
              word.withUTF8Buffer({ Array($0) }) == Array(bytes[index..<index + count]) else {
            throw error("invalid literal")
        }
        index += count
    }

    private mutating func nest() throws(JSONError) {
        depth += 1
        guard depth <= 64 else { throw error("nesting deeper than 64 levels") }
    }

    private mutating func object() throws(JSONError) -> JSONValue {
        var members: [String: JSONValue] = [:]
        try container(closing: "}", kind: "object") { parser throws(JSONError) in
            guard parser.peek == UInt8(ascii: "\"") else {
                throw parser.error(parser.peek == nil ? "unterminated object (truncated body?)" : "expected a member name")
            }
            let key = try parser.string()
            parser.skipSpace()
            guard parser.peek == UInt8(ascii: ":") else { throw parser.error("expected :") }
            parser.index += 1
            parser.skipSpace()
            members[key] = try parser.value()
        }
        return .object(members)
    }

    private mutating func array() throws(JSONError) -> JSONValue {
        var items: [JSONValue] = []
        try container(closing: "]", kind: "array") { parser throws(JSONError) in items.append(try parser.value()) }
        return .array(items)
    }

    /// Reads `[` or `{`, then members separated by commas up to `closing`; `member` reads one.
    private mutating func container(closing: Unicode.Scalar, kind: String,
                                    _ member: (inout JSONParser) throws(JSONError) -> Void) throws(JSONError) {
        try nest()
        defer { depth -= 1 }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: closing) { index += 1; return }
        while true {
            skipSpace()
            try member(&self)
            skipSpace()
            guard let next = peek else { throw error("unterminated \(kind) (truncated body?)") }
            index += 1
            if next == UInt8(ascii: closing) { return }
            guard next == UInt8(ascii: ",") else { throw error("expected , or \(closing) in \(kind)") }
        }
    }

    private mutating func number() throws(JSONError) -> String {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while let b = peek, b >= 0x30, b <= 0x39 { index += 1 }
        guard index > digitsStart else { throw error("invalid value") }
        if bytes[digitsStart] == 0x30 && index - digitsStart > 1 { throw error("leading zero in number") }
        if peek == UInt8(ascii: ".") {
            index += 1
            let fraction = index
            while let b = peek, b >= 0x30, b <= 0x39 { index += 1 }
            guard index > fraction else { throw error("digit expected after decimal point") }
        }
        if let e = peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            index += 1
            if let s = peek, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { index += 1 }
            let exponent = index
            while let b = peek, b >= 0x30, b <= 0x39 { index += 1 }
            guard index > exponent else { throw error("digit expected in exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func string() throws(JSONError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated string (truncated body?)") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw error("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw error("invalid escape")
                }
            case 0..<0x20: throw error("control character in string")
            default: out.append(byte)
            }
        }
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
