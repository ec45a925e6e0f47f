// Validated decimal numbers kept as text, so nothing is rounded on the way to NUMERIC.
import Support

/// A finite decimal number exactly as the source wrote it (`123`, `0.5`, `6.32696E+11`, `9.86E-05`).
///
/// The digits are never converted to a binary floating-point value: PostgreSQL's `numeric` input
/// accepts this grammar, so the text goes to the database unchanged.
public struct DecimalText: Sendable, Hashable, CustomStringConvertible {
    /// The number as written, trimmed of surrounding blanks.
    public let text: String
    /// Whether the number is below zero.
    public let isNegative: Bool
    /// Whether every digit is zero.
    public let isZero: Bool

    /// Parses `raw`; returns nil unless it is a finite decimal number with an optional exponent.
    public init?(_ raw: some StringProtocol) {
        let trimmed = raw.trimmingBlanks()
        var bytes = Array(trimmed.utf8)[...]
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var mantissaDigits = 0
        var nonZeroDigit = false
        var seenPoint = false
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                mantissaDigits += 1
                if byte != UInt8(ascii: "0") { nonZeroDigit = true }
            } else if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else {
                break
            }
            index += 1
        }
        guard mantissaDigits > 0 else { return nil }
        if index < bytes.endIndex {
            guard bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") else { return nil }
            index += 1
            if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            let exponentStart = index
            while index < bytes.endIndex, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            // An exponent needs digits, and PostgreSQL's numeric range caps it well below 4 digits.
            guard index > exponentStart, index - exponentStart <= 3, index == bytes.endIndex else { return nil }
        }
        self.text = String(trimmed)
        self.isNegative = negative && nonZeroDigit
        self.isZero = !nonZeroDigit
    }

    /// The number as written.
    public var description: String { text }
}
