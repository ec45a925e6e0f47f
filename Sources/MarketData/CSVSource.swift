// The CSV source: splitting lines into fields and normalizing a row of a daily price history.
import Support

/// Splits one CSV line (RFC 4180: quoted fields, doubled quotes) into fields.
///
/// The line must not contain its terminator; a trailing CR is dropped, so CRLF files work.
public func splitCSVLine(_ line: Substring) throws(QuarantineReason) -> [Substring] {
    var line = line
    if line.utf8.last == 0x0D { line = line.dropLast() }
    if !line.utf8.contains(UInt8(ascii: "\"")) {
        // The common case, split on UTF-8 code units: a comma byte is always a comma character.
        let utf8 = line.utf8
        var fields: [Substring] = []
        fields.reserveCapacity(12)
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: ",") {
                fields.append(Substring(utf8[start..<index]))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        fields.append(Substring(utf8[start..<utf8.endIndex]))
        return fields
    }
    var fields: [Substring] = []
    var current = ""
    var quoted = false
    var index = line.startIndex
    var fieldStart = true
    while index < line.endIndex {
        let char = line[index]
        if quoted {
            if char == "\"" {
                let next = line.index(after: index)
                if next < line.endIndex, line[next] == "\"" {
                    current.append("\"")
                    index = next
                } else {
                    quoted = false
                }
            } else {
                current.append(char)
            }
        } else if char == "\"" && fieldStart {
            quoted = true
        } else if char == "," {
            fields.append(Substring(current))
            current = ""
            fieldStart = true
            index = line.index(after: index)
            continue
        } else {
            current.append(char)
        }
        fieldStart = false
        index = line.index(after: index)
    }
    guard !quoted else { throw QuarantineReason(field: nil, "unterminated quoted field") }
    fields.append(Substring(current))
    return fields
}

/// The columns of a historical price file and their positions, read from its header line.
public struct CSVLayout: Sendable, Equatable {
    /// Columns every file must have.
    public static let required = ["Name", "Symbol", "Date", "Close", "Volume", "Marketcap"]

    let name: Int, symbol: Int, date: Int, close: Int, volume: Int, marketCap: Int
    /// How many fields a data line must have.
    public let columnCount: Int

    /// Reads the header; throws naming the columns that are missing.
    public init(header: Substring) throws(QuarantineReason) {
        let columns = try splitCSVLine(header).map { String($0.trimmingBlanks()) }
        var position: [String: Int] = [:]
        for (index, column) in columns.enumerated() { position[column.lowercased()] = index }
        let missing = CSVLayout.required.filter { position[$0.lowercased()] == nil }
        guard missing.isEmpty else {
            throw QuarantineReason(field: nil, "header lacks column(s) \(missing.joined(separator: ", "))")
        }
        name = position["name"]!
        symbol = position["symbol"]!
        date = position["date"]!
        close = position["close"]!
        volume = position["volume"]!
        marketCap = position["marketcap"]!
        columnCount = columns.count
    }

    /// Normalizes one data line into a record, or says why it cannot be used.
    public func record(from line: Substring, now: Timestamp) throws(QuarantineReason) -> MarketRecord {
        let fields = try splitCSVLine(line)
        guard fields.count == columnCount else {
            throw QuarantineReason(field: nil, "expected \(columnCount) fields, found \(fields.count)")
        }
        let name = String(fields[self.name].trimmingBlanks())
        let symbol = String(fields[self.symbol].trimmingBlanks()).uppercased()
        guard !name.isEmpty else { throw QuarantineReason(field: "Name", "missing value") }
        guard !symbol.isEmpty else { throw QuarantineReason(field: "Symbol", "missing value") }
        guard let observed = Timestamp.parseCSVDate(fields[date].trimmingBlanks()) else {
            throw QuarantineReason(field: "Date", "expected DD-MM-YYYY HH:MM, found \(String(fields[date].prefix(40)).debugDescription)")
        }
        try Validate.observedAt(observed, now: now, field: "Date")
        return MarketRecord(
            source: .csv, sourceID: Identity.slug(name), symbol: symbol, name: name, observedAt: observed,
            priceUSD: try Validate.amount(fields[close], field: "Close", allowZero: false),
            marketCapUSD: try Validate.amount(fields[marketCap], field: "Marketcap"),
            volume24hUSD: try Validate.amount(fields[volume], field: "Volume"),
            rank: nil)
    }
}
