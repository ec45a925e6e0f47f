// PostgreSQL array literals, so a whole batch travels as a few bound parameters (`unnest($1::text[])`).

/// Builds the text form of a one-dimensional array: every element quoted, NULL for nil.
///
/// Built as UTF-8 bytes (a batch of thousands of values is on the ETL's hot path): only `"` and
/// `\` need a backslash inside a quoted element.
public func sqlArrayLiteral<S: Sequence>(_ values: S) -> String where S.Element == String? {
    var out: [UInt8] = [UInt8(ascii: "{")]
    out.reserveCapacity(values.underestimatedCount * 12 + 2)
    var first = true
    for value in values {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        guard var value else {
            out.append(contentsOf: "NULL".utf8)
            continue
        }
        out.append(UInt8(ascii: "\""))
        value.withUTF8 { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: "}"))
    return String(decoding: out, as: UTF8.self)
}

/// Builds the text form of a one-dimensional array of non-null values.
public func sqlArrayLiteral<S: Sequence>(_ values: S) -> String where S.Element == String {
    sqlArrayLiteral(values.lazy.map { Optional($0) })
}
