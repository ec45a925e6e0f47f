// PostgreSQL array literals, so a whole batch travels as a few bound parameters (`unnest($1::text[])`).

/// Builds the text form of a one-dimensional array: every element quoted, NULL for nil.
public func sqlArrayLiteral<S: Sequence>(_ values: S) -> String where S.Element == String? {
    var out = "{"
    var first = true
    for value in values {
        if !first { out += "," }
        first = false
        guard let value else { out += "NULL"; continue }
        out += "\""
        for char in value.unicodeScalars {
            if char == "\"" || char == "\\" { out += "\\" }
            out.unicodeScalars.append(char)
        }
        out += "\""
    }
    return out + "}"
}

/// Builds the text form of a one-dimensional array of non-null values.
public func sqlArrayLiteral<S: Sequence>(_ values: S) -> String where S.Element == String {
    sqlArrayLiteral(values.lazy.map { Optional($0) })
}
