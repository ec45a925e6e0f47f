// `kasparro-etl status`: a readable table of each source's last run, checkpoints and quarantine.
import MarketData
import Store

/// Reads the run history and renders it as plain-text tables.
public struct StatusReport {
    private let connection: Connection

    /// Uses any role that can read the ETL tables.
    public init(connection: Connection) { self.connection = connection }

    /// The report text.
    public func render() throws -> String {
        let runs = try connection.query("""
            SELECT s.source, r.run_id::text, r.status, to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                   coalesce(round(extract(epoch FROM r.finished_at - r.started_at)::numeric, 2)::text, '-'),
                   coalesce(r.fetched::text, '-'), coalesce(r.inserted::text, '-'), coalesce(r.unchanged::text, '-'),
                   (SELECT count(*) FROM quarantine q WHERE q.source = s.source)::text, coalesce(r.error, '')
            FROM unnest($1::text[]) AS s(source)
            LEFT JOIN LATERAL (SELECT * FROM etl_runs e WHERE e.source = s.source ORDER BY run_id DESC LIMIT 1) r ON true
            ORDER BY s.source
            """, [sqlArrayLiteral(Source.allCases.map(\.rawValue))]).rows
        let checkpoints = try connection.query("""
            SELECT source, stream, position::text, line_no::text,
                   to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
            FROM etl_checkpoints ORDER BY source, stream
            """).rows
        var out = "Sources (last run)\n"
        out += table(["SOURCE", "RUN", "STATUS", "STARTED (UTC)", "SECONDS", "FETCHED", "INSERTED", "UNCHANGED",
                      "QUARANTINED", "ERROR"],
                     runs.map { row in row.values.map { $0 ?? "-" } })
        out += "\nCheckpoints\n"
        out += table(["SOURCE", "STREAM", "BYTE OFFSET", "LINES", "UPDATED (UTC)"], checkpoints.map { $0.values.map { $0 ?? "-" } })
        return out
    }

    private func table(_ header: [String], _ rows: [[String]]) -> String {
        guard !rows.isEmpty else { return "  (none)\n" }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { i, cell in cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
