// HTTP for one source: client-side rate limit, retries with exponential backoff and jitter, Retry-After.
import Foundation
import HTTPClient
import Logging

/// When and how often to retry a request.
public struct RetryPolicy: Sendable {
    /// Attempts per request, the first included.
    public var maxAttempts: Int
    /// Delay before the first retry, doubled each time.
    public var baseDelay: Double
    /// Upper bound of one delay.
    public var maxDelay: Double
    /// Upper bound of all time spent on one source's requests, waits included.
    public var maxTotalSeconds: Double

    /// The delay before retry number `attempt` (1-based): exponential, capped, with full jitter
    /// in its upper half so clients that failed together do not retry together.
    func backoff(attempt: Int, random: Double) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(attempt - 1)))
        return ceiling / 2 + ceiling / 2 * random
    }

    /// Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}

/// A source's request failed for good.
public struct FetchError: Error, CustomStringConvertible {
    /// What happened, with the last status or transfer error.
    public let description: String
}

/// Fetches URLs for one source run, spacing requests and retrying transient failures.
final class Fetcher {
    private let client: HTTPClient
    private let config: APISourceConfig
    private let logger: Logger
    private let started = Date()
    private var lastRequest: Date?
    /// Requests retried during this run.
    private(set) var retries = 0
    /// Seconds spent waiting for the rate limit.
    private(set) var rateLimitWaits = 0.0

    init(config: APISourceConfig, logger: Logger) throws {
        self.client = try HTTPClient()
        client.connectTimeout = config.connectTimeout
        client.totalTimeout = config.timeout
        client.maxBodyBytes = config.maxBodyBytes
        self.config = config
        self.logger = logger
    }

    /// GETs `path` (appended to the base URL) and returns a 200 response's body.
    func get(_ path: String) throws -> [UInt8] {
        let url = config.baseURL + path
        var attempt = 0
        while true {
            attempt += 1
            waitForRateLimit()
            var failure: String
            var wait: Double?
            do {
                let response = try client.get(url, headers: config.headers)
                if response.status == 200 { return response.body }
                let snippet = String(decoding: response.body.prefix(120), as: UTF8.self)
                    .replacingOccurrences(of: "\n", with: " ")
                failure = "HTTP \(response.status) from \(path): \(snippet)"
                guard response.status == 429 || (500...599).contains(response.status) else {
                    throw FetchError(description: failure)
                }
                wait = RetryPolicy.retryAfter(response.headers["retry-after"])
            } catch let error as HTTPClientError {
                guard error.isTransient else { throw FetchError(description: "\(error)") }
                failure = "\(error)"
            }
            let elapsed = Date().timeIntervalSince(started)
            let delay = wait ?? config.retry.backoff(attempt: attempt, random: Double.random(in: 0...1))
            guard attempt < config.retry.maxAttempts else {
                throw FetchError(description: "\(failure) (gave up after \(attempt) attempts)")
            }
            guard elapsed + delay <= config.retry.maxTotalSeconds else {
                throw FetchError(description: "\(failure) (gave up: retrying would pass the \(Int(config.retry.maxTotalSeconds)) s limit)")
            }
            retries += 1
            logger.warning("retrying request", metadata: [
                "path": "\(path)", "attempt": "\(attempt)", "error": "\(failure)",
                "delay_s": "\(String(format: "%.3f", delay))", "retry_after": "\(wait != nil)"])
            Thread.sleep(forTimeInterval: delay)
        }
    }

    private func waitForRateLimit() {
        let interval = 60.0 / Double(config.requestsPerMinute)
        if let last = lastRequest {
            let wait = interval - Date().timeIntervalSince(last)
            if wait > 0 {
                rateLimitWaits += wait
                logger.info("rate limit wait", metadata: ["delay_s": "\(String(format: "%.3f", wait))"])
                Thread.sleep(forTimeInterval: wait)
            }
        }
        lastRequest = Date()
    }
}
