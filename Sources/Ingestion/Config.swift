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
    /// Failure injection: sleep this long inside each batch's transaction, after its writes and
    /// before COMMIT, so a test can kill the process at exactly that point.
    public var pauseBeforeCommitMS: Int
    /// What started the run: `manual`, `timer`, `test`.
    public var trigger: String
    /// Records per transaction.
    public var batchSize: Int
    /// CoinPaprika settings.
    public var coinpaprika: APISourceConfig
    /// CoinGecko settings.
    public var coingecko: APISourceConfig
    /// Renames found by schema drift detection at or above this confidence are applied.
    public var driftRenameThreshold: Double
    /// Pages of 250 CoinGecko markets per run.
    public var coingeckoMaxPages: Int

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
        pauseBeforeCommitMS = try ETLConfig.integer(environment, "ETL_PAUSE_BEFORE_COMMIT_MS", default: 0, range: 0...60_000)
        trigger = environment["ETL_TRIGGER"] ?? (environment["INVOCATION_ID"] != nil ? "timer" : "manual")
        batchSize = Int(environment["ETL_BATCH_SIZE"] ?? "") ?? 1000
        guard batchSize > 0 else { throw ConfigError("ETL_BATCH_SIZE must be ≥ 1") }

        let retry = RetryPolicy(
            maxAttempts: try ETLConfig.integer(environment, "ETL_HTTP_MAX_ATTEMPTS", default: 4, range: 1...20),
            baseDelay: Double(try ETLConfig.integer(environment, "ETL_HTTP_BACKOFF_MS", default: 500, range: 1...60_000)) / 1000,
            maxDelay: 30,
            maxTotalSeconds: Double(try ETLConfig.integer(environment, "ETL_HTTP_MAX_SECONDS", default: 120, range: 1...3600)))
        let connectTimeout = try ETLConfig.integer(environment, "ETL_HTTP_CONNECT_TIMEOUT", default: 5, range: 1...120)
        let timeout = try ETLConfig.integer(environment, "ETL_HTTP_TIMEOUT", default: 30, range: 1...600)

        let paprikaKey = try ETLConfig.secret(environment, "COINPAPRIKA_API_KEY")
        coinpaprika = APISourceConfig(
            baseURL: ETLConfig.trimSlash(environment["COINPAPRIKA_BASE_URL"]
                ?? (paprikaKey == nil ? "https://api.coinpaprika.com/v1" : "https://api-pro.coinpaprika.com/v1")),
            headers: paprikaKey.map { ["Authorization: \($0)"] } ?? [],
            requestsPerMinute: try ETLConfig.integer(environment, "COINPAPRIKA_REQUESTS_PER_MINUTE", default: 600, range: 1...100_000),
            retry: retry, connectTimeout: connectTimeout, timeout: timeout)

        let plan = environment["COINGECKO_API_PLAN"] ?? "demo"
        guard plan == "demo" || plan == "pro" else {
            throw ConfigError("COINGECKO_API_PLAN must be demo or pro, got \(plan.debugDescription)")
        }
        let geckoKey = try ETLConfig.secret(environment, "COINGECKO_API_KEY")
        coingecko = APISourceConfig(
            baseURL: ETLConfig.trimSlash(environment["COINGECKO_BASE_URL"]
                ?? (plan == "pro" ? "https://pro-api.coingecko.com/api/v3" : "https://api.coingecko.com/api/v3")),
            headers: geckoKey.map { [(plan == "pro" ? "x-cg-pro-api-key: " : "x-cg-demo-api-key: ") + $0] } ?? [],
            requestsPerMinute: try ETLConfig.integer(environment, "COINGECKO_REQUESTS_PER_MINUTE", default: 30, range: 1...100_000),
            retry: retry, connectTimeout: connectTimeout, timeout: timeout)
        coingeckoMaxPages = try ETLConfig.integer(environment, "COINGECKO_MAX_PAGES", default: 2, range: 1...100)
        let threshold = environment["SCHEMA_DRIFT_RENAME_THRESHOLD"].flatMap(Double.init) ?? SchemaDrift.defaultThreshold
        guard (0...1).contains(threshold) else { throw ConfigError("SCHEMA_DRIFT_RENAME_THRESHOLD must be between 0 and 1") }
        driftRenameThreshold = threshold
    }

    private static func integer(_ environment: [String: String], _ name: String, default value: Int,
                                range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let text = environment[name], !text.isEmpty else { return value }
        guard let parsed = Int(text), range.contains(parsed) else {
            throw ConfigError("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(text.debugDescription)")
        }
        return parsed
    }

    /// A key from `NAME` or from the file `NAME_FILE` (a systemd credential); never logged.
    static func secret(_ environment: [String: String], _ name: String) throws(ConfigError) -> String? {
        if let path = environment[name + "_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError("\(name)_FILE: cannot read \(path)")
            }
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return key.isEmpty ? nil : key
        }
        let key = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines)
        return key?.isEmpty == false ? key : nil
    }

    private static func trimSlash(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
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

/// How one API source is reached.
public struct APISourceConfig: Sendable {
    /// Base URL without a trailing slash.
    public var baseURL: String
    /// Authentication headers (`Name: value`); never logged.
    public var headers: [String]
    /// Client-side rate limit.
    public var requestsPerMinute: Int
    /// Retries on 429, 5xx, timeouts and connection errors.
    public var retry: RetryPolicy
    /// Seconds to connect.
    public var connectTimeout: Int
    /// Seconds for a whole request.
    public var timeout: Int
}

/// A setting is missing or malformed.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// Which variable and what to do about it.
    public let description: String
    init(_ description: String) { self.description = description }
}
