// Strict query-string parsing: every value decoded once, duplicates and unknown names refused.

/// Decoded query parameters of one request.
public struct QueryParameters: Sendable {
    private var values: [String: String] = [:]

    /// Parses `query`, allowing only `allowed` names. Rejects a name given twice, malformed
    /// percent-encoding, invalid UTF-8 and NUL bytes, each as a 400 naming the parameter.
    public init(_ query: String, allowed: Set<String>) throws(APIError) {
        guard !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = QueryParameters.decode(parts[0]) else {
                throw APIError.badParameter("query", "malformed percent-encoding or invalid UTF-8 in a parameter name")
            }
            guard allowed.contains(name) else {
                let shown = name.count > 40 ? String(name.prefix(40)) + "…" : name
                let rule = allowed.isEmpty ? "this endpoint takes no parameters"
                    : "allowed: \(allowed.sorted().joined(separator: ", "))"
                throw APIError(status: 400, code: "unknown_parameter", message: "\(shown): unknown parameter; \(rule)")
            }
            guard values[name] == nil else { throw APIError.badParameter(name, "given more than once") }
            guard let value = QueryParameters.decode(parts.count > 1 ? parts[1] : "") else {
                throw APIError.badParameter(name, "malformed percent-encoding or invalid UTF-8")
            }
            guard !value.utf8.contains(0) else { throw APIError.badParameter(name, "must not contain NUL bytes") }
            values[name] = value
        }
    }

    /// The raw decoded value of `name`.
    public subscript(name: String) -> String? { values[name] }

    /// Whether `name` was given.
    public func has(_ name: String) -> Bool { values[name] != nil }

    /// An integer within `range`, or nil when absent.
    public func integer(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = values[name] else { return nil }
        let allowed = range.upperBound == Int.max ? "an integer ≥ \(range.lowerBound)"
            : "an integer from \(range.lowerBound) to \(range.upperBound)"
        guard let value = Int(text) else { throw APIError.badParameter(name, "must be \(allowed), got \(QueryParameters.show(text))") }
        guard range.contains(value) else { throw APIError.badParameter(name, "must be \(allowed), got \(value)") }
        return value
    }

    /// One of a fixed set of names (`source`, `status`), or nil when absent.
    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws(APIError) -> T?
        where T.RawValue == String {
        guard let text = values[name] else { return nil }
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badParameter(name, "must be one of \(allowed), got \(QueryParameters.show(text))")
        }
        return value
    }

    /// Decodes `%XX` and `+`; nil on malformed escapes or invalid UTF-8.
    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A value quoted for an error message, shortened.
    static func show(_ text: String) -> String {
        (text.count > 40 ? String(text.prefix(40)) + "…" : text).debugDescription
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
