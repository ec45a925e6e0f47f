// The three data sources, named the same everywhere: tables, API, CLI, metrics.

/// A market-data source.
public enum Source: String, CaseIterable, Sendable, Codable {
    case coinpaprika
    case coingecko
    case csv

    /// Every source name, comma-separated, for error messages and help text.
    public static let allNames: String = allCases.map(\.rawValue).joined(separator: ", ")
}

/// The status of one source's part of an ETL invocation.
public enum RunStatus: String, CaseIterable, Sendable {
    case running
    case succeeded
    case failed
}
