// ETL settings from the environment (systemd EnvironmentFile, or .env in the dev setup).
import Foundation
import MarketData
import Support

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
    /// Whether API runs fetch the source's coin list (at most once a day) as identity evidence.
    public var coinLists: Bool
    /// What retention drops, whole partitions at a time.
    public var retention: RetentionPolicy

    /// Reads the settings; throws naming the variable that is wrong and what it allows.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingError) {
        let settings = EnvironmentSettings(environment)
        guard let url = settings["DATABASE_URL"] else {
            throw SettingError("DATABASE_URL is not set (a libpq conninfo or URI for the ETL's role)")
        }
        guard !ETLConfig.containsPassword(url) else {
            throw SettingError("DATABASE_URL must not contain a password: use PGPASSFILE or peer authentication")
        }
        databaseURL = url
        csvDirectory = settings["CSV_SOURCE_DIR"] ?? "../shared/samples/csv"
        failAfter = try settings.optionalInteger("ETL_FAIL_AFTER_N_RECORDS", in: 0...Int.max)
        pauseBeforeCommitMS = try settings.integer("ETL_PAUSE_BEFORE_COMMIT_MS", default: 0, in: 0...60_000)
        trigger = try settings.choice("ETL_TRIGGER", default: settings["INVOCATION_ID"] != nil ? RunTrigger.timer : .manual).rawValue
        // 5,000: a batch's fixed cost (its commit's WAL flush, a dozen round trips, the rollup
        // triggers' planning) was a quarter of a 1,000-record batch's time; past 5,000 the gain is
        // small (docs/performance.md) and a transaction only grows. An API snapshot is one batch.
        batchSize = try settings.integer("ETL_BATCH_SIZE", default: 5000, in: 1...100_000)

        let retry = RetryPolicy(
            maxAttempts: try settings.integer("ETL_HTTP_MAX_ATTEMPTS", default: 4, in: 1...20),
            baseDelay: Double(try settings.integer("ETL_HTTP_BACKOFF_MS", default: 500, in: 1...60_000)) / 1000,
            maxDelay: 30,
            maxTotalSeconds: Double(try settings.integer("ETL_HTTP_MAX_SECONDS", default: 120, in: 1...3600)))
        let connectTimeout = try settings.integer("ETL_HTTP_CONNECT_TIMEOUT", default: 5, in: 1...120)
        let timeout = try settings.integer("ETL_HTTP_TIMEOUT", default: 30, in: 1...600)
        let maxBodyBytes = try settings.integer("ETL_HTTP_MAX_BYTES", default: 64 << 20, in: 1024...(1 << 32))

        let paprikaKey = try ETLConfig.secret(environment, "COINPAPRIKA_API_KEY")
        coinpaprika = APISourceConfig(
            baseURL: ETLConfig.trimSlash(settings["COINPAPRIKA_BASE_URL"]
                ?? (paprikaKey == nil ? "https://api.coinpaprika.com/v1" : "https://api-pro.coinpaprika.com/v1")),
            headers: paprikaKey.map { ["Authorization: \($0)"] } ?? [],
            requestsPerMinute: try settings.integer("COINPAPRIKA_REQUESTS_PER_MINUTE", default: 600, in: 1...100_000),
            retry: retry, connectTimeout: connectTimeout, timeout: timeout, maxBodyBytes: maxBodyBytes)

        let plan = try settings.choice("COINGECKO_API_PLAN", default: CoinGeckoPlan.demo)
        let geckoKey = try ETLConfig.secret(environment, "COINGECKO_API_KEY")
        coingecko = APISourceConfig(
            baseURL: ETLConfig.trimSlash(settings["COINGECKO_BASE_URL"] ?? plan.baseURL),
            headers: geckoKey.map { [plan.keyHeader + ": " + $0] } ?? [],
            requestsPerMinute: try settings.integer("COINGECKO_REQUESTS_PER_MINUTE", default: 30, in: 1...100_000),
            retry: retry, connectTimeout: connectTimeout, timeout: timeout, maxBodyBytes: maxBodyBytes)
        coingeckoMaxPages = try settings.integer("COINGECKO_MAX_PAGES", default: 2, in: 1...100)
        coinLists = try settings.choice("COIN_LISTS", default: Toggle.on) == .on
        driftRenameThreshold = try settings.number("SCHEMA_DRIFT_RENAME_THRESHOLD", default: SchemaDrift.defaultThreshold, in: 0...1)
        retention = try RetentionPolicy(
            marketMonths: settings.optionalInteger("RETENTION_MARKET_MONTHS", in: 0...1200).flatMap { $0 == 0 ? nil : $0 },
            rawMonths: settings.optionalInteger("RETENTION_RAW_MONTHS", in: 0...1200).flatMap { $0 == 0 ? nil : $0 })
    }

    /// A key from `NAME` or from the file `NAME_FILE` (a systemd credential); never logged.
    static func secret(_ environment: [String: String], _ name: String) throws(SettingError) -> String? {
        if let path = environment[name + "_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SettingError("\(name)_FILE: cannot read \(path)")
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
    /// Bytes a response body may have, received and decompressed.
    public var maxBodyBytes: Int
}

/// What started an ETL invocation (`ETL_TRIGGER`; under systemd `timer` by default).
public enum RunTrigger: String, CaseIterable, Sendable {
    case manual, timer, test, bench
}

/// CoinGecko's API plans: each has its own host and key header.
enum CoinGeckoPlan: String, CaseIterable {
    case demo, pro

    var baseURL: String {
        switch self {
        case .demo: return "https://api.coingecko.com/api/v3"
        case .pro: return "https://pro-api.coingecko.com/api/v3"
        }
    }

    var keyHeader: String {
        switch self {
        case .demo: return "x-cg-demo-api-key"
        case .pro: return "x-cg-pro-api-key"
        }
    }
}

/// An on/off setting.
enum Toggle: String, CaseIterable {
    case on, off
}
