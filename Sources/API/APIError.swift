// The JSON error shape every failure is answered with, and the latency number format.
import HTTPMessage

/// An error answered to the client as `{"error": {"code", "message"}, "request_id", "api_latency_ms"}`.
///
/// Messages never carry database or internal detail: they say what the client can change.
public struct APIError: Error, Sendable, Equatable {
    /// HTTP status.
    public let status: Int
    /// Machine-readable code.
    public let code: String
    /// What is wrong and what is allowed.
    public let message: String
    /// Extra headers (`Allow`, `Retry-After`).
    public var headers: [String: String] = [:]

    /// A 400 about one query parameter: names it and what it accepts.
    public static func badParameter(_ name: String, _ message: String) -> APIError {
        APIError(status: 400, code: "invalid_parameter", message: "\(name): \(message)")
    }
    /// A 404 for an unknown path.
    public static func notFound(_ path: String) -> APIError {
        APIError(status: 404, code: "not_found", message: "no such endpoint: \(path)")
    }
    /// A 405 naming the allowed methods.
    public static func methodNotAllowed(_ method: String) -> APIError {
        APIError(status: 405, code: "method_not_allowed", message: "method \(method) is not allowed; use GET",
                 headers: ["Allow": "GET, HEAD"])
    }
    /// A 503 while PostgreSQL cannot be reached.
    public static let databaseUnavailable = APIError(status: 503, code: "database_unavailable",
                                                     message: "the database is unavailable; retry shortly",
                                                     headers: ["Retry-After": "1"])
    /// A 503 while the database's schema is older than this responder needs (mid-upgrade).
    public static let schemaOutdated = APIError(status: 503, code: "schema_outdated",
                                                message: "the database is being upgraded; retry shortly",
                                                headers: ["Retry-After": "5"])
    /// A 503 while the database is too busy to answer in time (statement timeout, no connections).
    public static let overloaded = APIError(status: 503, code: "overloaded",
                                            message: "the database is busy; retry shortly",
                                            headers: ["Retry-After": "1"])
    /// A 500 that hides its cause from the client (it is logged).
    public static let internalError = APIError(status: 500, code: "internal_error",
                                               message: "internal error; the request id identifies it in the logs")

    /// Renders the error body for `requestID`.
    func response(requestID: String, latencyMS: Double) -> Response {
        var out = JSONWriter(capacity: 256)
        out.openObject()
        out.field("error")
        out.openObject()
        out.field("code", code)
        out.field("message", message)
        out.closeObject()
        out.field("request_id", requestID)
        out.field("api_latency_ms", json: formatLatency(latencyMS))
        out.closeObject()
        return Response(status: status, bytes: out.bytes, headers: headers.sorted { $0.key < $1.key })
    }
}

/// Milliseconds with three decimals, as a JSON number.
func formatLatency(_ ms: Double) -> String {
    let micros = Int((ms * 1000).rounded())
    let fraction = String(micros % 1000)
    return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
