// ETL settings from the environment (systemd EnvironmentFile, or .env in the dev setup).
import Foundation
import MarketData

/// Everything an ETL invocation needs to know, read once from the environment.
public struct ETLConfig: Sendable {
    /// libpq conninfo or URI for the writer role; never carries a password.
    public var databaseURL: String
    /// Directory of `*.csv` price histories.
    public var csvDirectory: String
    /// Abort a source's run after this many records (failure injection for tests and demos).
    public var failAfter: Int?
    /// What started the run: `manual`, `timer`, `test`.
    public var trigger: String
    /// Records per transaction.
    public var batchSize: Int

    /// Reads the settings; throws naming the variable that is wrong.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) {
        guard let url = environment["DATABASE_URL"], !url.isEmpty else {
            throw ConfigError("DATABASE_URL is not set (a libpq conninfo or URI for the ETL's role)")
        }
        guard !ETLConfig.containsPassword(url) else {
            throw ConfigError("DATABASE_URL must not contain a password: use PGPASSFILE or peer authentication")
        }
        databaseURL = url
        csvDirectory = environment["CSV_SOURCE_DIR"] ?? "../shared/samples/csv"
        if let raw = environment["ETL_FAIL_AFTER_N_RECORDS"], !raw.isEmpty {
            guard let value = Int(raw), value >= 0 else {
                throw ConfigError("ETL_FAIL_AFTER_N_RECORDS must be a whole number ≥ 0, got \(raw.debugDescription)")
            }
            failAfter = value
        }
        trigger = environment["ETL_TRIGGER"] ?? (environment["INVOCATION_ID"] != nil ? "timer" : "manual")
        batchSize = Int(environment["ETL_BATCH_SIZE"] ?? "") ?? 1000
        guard batchSize > 0 else { throw ConfigError("ETL_BATCH_SIZE must be ≥ 1") }
    }

    /// Whether a conninfo or URI carries a password (`password=` or `user:secret@`).
    public static func containsPassword(_ url: String) -> Bool {
        if url.range(of: "password=", options: .caseInsensitive) != nil { return true }
        guard let scheme = url.range(of: "://") else { return false }
        let rest = url[scheme.upperBound...]
        guard let at = rest.firstIndex(of: "@") else { return false }
        return rest[..<at].contains(":")
    }
}

/// A setting is missing or malformed.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// Which variable and what to do about it.
    public let description: String
    init(_ description: String) { self.description = description }
}
