// A record that failed validation, kept with its reason (never dropped); and text PostgreSQL can store.
import MarketData

/// A record that failed validation, with where it came from.
struct QuarantinedRecord {
    let stream: String
    let locator: String
    let raw: String
    let reason: QuarantineReason
}

extension String {
    /// The text with NUL characters replaced by U+FFFD (PostgreSQL text cannot hold NUL).
    func replacingNULs() -> String {
        guard utf8.contains(0) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }
}
