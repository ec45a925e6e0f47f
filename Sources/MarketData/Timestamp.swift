// UTC timestamps: parsing the formats sources and clients send, rendering RFC 3339.

/// An instant in UTC with microsecond precision (PostgreSQL's `timestamptz` resolution).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public let microseconds: Int64

    /// Creates an instant from microseconds since the Unix epoch.
    public init(microseconds: Int64) { self.microseconds = microseconds }

    /// Creates an instant from calendar fields in UTC; nil when a field is out of range.
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...Timestamp.daysIn(month: month, year: year)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
              (0...999_999).contains(microsecond) else { return nil }
        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.microseconds = seconds * 1_000_000 + Int64(microsecond)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// RFC 3339 in UTC: `2021-08-12T10:00:00Z`, with six fractional digits only when needed.
    public var description: String {
        var seconds = microseconds / 1_000_000
        var micros = microseconds % 1_000_000
        if micros < 0 { micros += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        let (y, m, d) = Timestamp.civilFromDays(Int(days))
        let text = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(rest / 3600), 2)):\(pad(Int(rest % 3600 / 60), 2)):\(pad(Int(rest % 60), 2))"
        return micros == 0 ? text + "Z" : text + "." + pad(Int(micros), 6) + "Z"
    }

    /// Parses an API filter value: an RFC 3339 timestamp (`Z` or a numeric offset, optional
    /// fraction) or a bare `YYYY-MM-DD` date meaning UTC midnight.
    public static func parseFilter(_ text: some StringProtocol) -> Timestamp? {
        let b = Array(text.utf8)
        guard b.count >= 10, let y = digits(b, 0, 4), b[4] == 0x2D, let mo = digits(b, 5, 2), b[7] == 0x2D,
              let d = digits(b, 8, 2) else { return nil }
        if b.count == 10 { return Timestamp(year: y, month: mo, day: d) }
        guard b.count >= 20, b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              let h = digits(b, 11, 2), b[13] == 0x3A, let mi = digits(b, 14, 2), b[16] == 0x3A,
              let s = digits(b, 17, 2) else { return nil }
        var i = 19
        var micro = 0
        if b[i] == 0x2E {
            i += 1
            var count = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if count < 6 { micro = micro * 10 + Int(b[i] - 0x30) }
                count += 1
                i += 1
            }
            guard count > 0, count <= 9 else { return nil }
            if count < 6 { for _ in count..<6 { micro *= 10 } }
        }
        guard i < b.count else { return nil }
        var offsetSeconds = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == 0x2B || b[i] == 0x2D {
            guard i + 6 == b.count, let oh = digits(b, i + 1, 2), b[i + 3] == 0x3A, let om = digits(b, i + 4, 2),
                  oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == 0x2D ? -1 : 1)
        } else {
            return nil
        }
        guard let local = Timestamp(year: y, month: mo, day: d, hour: h, minute: mi, second: s, microsecond: micro) else {
            return nil
        }
        let instant = Timestamp(microseconds: local.microseconds - Int64(offsetSeconds) * 1_000_000)
        // Only instants RFC 3339 can write in UTC (years 0001–9999): an offset must not move one out.
        guard instant >= Timestamp.firstFilterInstant, instant <= Timestamp.lastFilterInstant else { return nil }
        return instant
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the range of a filter's instant.
    static let firstFilterInstant = Timestamp(year: 1, month: 1, day: 1)!
    static let lastFilterInstant = Timestamp(microseconds: Timestamp(year: 9999, month: 12, day: 31)!.microseconds + 86_400_000_000 - 1)

    /// Parses the CSV source's `DD-MM-YYYY HH:MM` (seconds optional), read as UTC.
    public static func parseCSVDate(_ text: some StringProtocol) -> Timestamp? {
        let b = Array(text.utf8)
        guard b.count == 16 || b.count == 19, let d = digits(b, 0, 2), b[2] == 0x2D, let mo = digits(b, 3, 2),
              b[5] == 0x2D, let y = digits(b, 6, 4), b[10] == 0x20, let h = digits(b, 11, 2), b[13] == 0x3A,
              let mi = digits(b, 14, 2) else { return nil }
        var s = 0
        if b.count == 19 {
            guard b[16] == 0x3A, let sec = digits(b, 17, 2) else { return nil }
            s = sec
        }
        return Timestamp(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
    }

    private static func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
        guard start + count <= b.count else { return nil }
        var value = 0
        for i in start..<start + count {
            guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            value = value * 10 + Int(b[i] - 0x30)
        }
        return value
    }

    /// The start of this instant's calendar month in UTC.
    public var monthStart: Timestamp { months(from: 0) }

    /// The start of the UTC calendar month `offset` months after this instant's (negative: before).
    public func months(from offset: Int) -> Timestamp {
        var days = microseconds / 86_400_000_000
        if microseconds % 86_400_000_000 < 0 { days -= 1 }
        let (year, month, _) = Timestamp.civilFromDays(Int(days))
        let index = year * 12 + (month - 1) + offset
        let first = Timestamp.daysFromCivil(year: index >= 0 ? index / 12 : (index - 11) / 12,
                                            month: ((index % 12) + 12) % 12 + 1, day: 1)
        return Timestamp(microseconds: Int64(first) * 86_400_000_000)
    }

    private static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let text = String(value)
    return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
}

extension Timestamp {
    /// Parses PostgreSQL's text output of `timestamptz` in a UTC session:
    /// `2024-07-06 23:59:00+00` or `2026-11-23 12:26:54.385471+00`.
    public static func parsePostgres(_ text: some StringProtocol) -> Timestamp? {
        var value = String(text)
        guard value.hasSuffix("+00") else { return nil }
        value.removeLast(3)
        return parseFilter(value + "Z")
    }
}
