// libFuzzer target: the JSON parser of API payloads (make fuzz). Properties: a value or a
// JSONError, never a crash; a parsed value written out and parsed again is the same value, and
// every number keeps its text byte for byte; each element of a top-level array re-parses alone.
import MarketData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    if let value = try? JSONParser.parse(bytes) {
        var numbers: [String] = []
        collectNumbers(value, into: &numbers)
        let input = String(decoding: bytes, as: UTF8.self)
        for number in numbers {
            precondition(isJSONNumber(number), "a number whose text is not a JSON number: \(number)")
            precondition(input.contains(number), "a number's text is not in the input: \(number)")
        }
        let written = Array(write(value).utf8)
        guard let again = try? JSONParser.parse(written) else { preconditionFailure("written value does not parse") }
        precondition(again == value, "a value written and parsed again differs")
        var againNumbers: [String] = []
        collectNumbers(again, into: &againNumbers)
        precondition(againNumbers.sorted() == numbers.sorted(), "number text changed")
    }
    if let elements = try? JSONParser.parseArrayElements(bytes) {
        for element in elements {
            guard let alone = try? JSONParser.parse(Array(element.raw)) else { preconditionFailure("a raw element does not parse alone") }
            precondition(alone == element.value, "a raw element parses to another value")
        }
    }
    return 0
}

func collectNumbers(_ value: JSONValue, into numbers: inout [String]) {
    switch value {
    case .number(let text): numbers.append(text)
    case .array(let items): for item in items { collectNumbers(item, into: &numbers) }
    case .object(let members): for (_, member) in members { collectNumbers(member, into: &numbers) }
    default: break
    }
}

/// RFC 8259's number grammar.
func isJSONNumber(_ text: String) -> Bool {
    var b = Array(text.utf8)[...]
    if b.first == UInt8(ascii: "-") { b = b.dropFirst() }
    func digits(_ s: inout ArraySlice<UInt8>) -> Int {
        var n = 0
        while let c = s.first, c >= 0x30, c <= 0x39 { s = s.dropFirst(); n += 1 }
        return n
    }
    if b.first == UInt8(ascii: "0") { b = b.dropFirst() } else if digits(&b) == 0 { return false }
    if b.first == UInt8(ascii: ".") { b = b.dropFirst(); if digits(&b) == 0 { return false } }
    if b.first == UInt8(ascii: "e") || b.first == UInt8(ascii: "E") {
        b = b.dropFirst()
        if b.first == UInt8(ascii: "+") || b.first == UInt8(ascii: "-") { b = b.dropFirst() }
        if digits(&b) == 0 { return false }
    }
    return b.isEmpty
}

func write(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .number(let text): return text
    case .string(let text): return quote(text)
    case .array(let items): return "[" + items.map(write).joined(separator: ",") + "]"
    case .object(let members): return "{" + members.map { quote($0.key) + ":" + write($0.value) }.joined(separator: ",") + "}"
    }
}

func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
