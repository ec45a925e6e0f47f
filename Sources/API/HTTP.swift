// The request and response values handlers work with, and the JSON error shape.
import Telemetry

/// An HTTP request as the responder sees it (from FastCGI params), independent of libfcgi.
public struct Request: Sendable {
    /// `GET`, `HEAD`, ...
    public var method: String
    /// The path without the query string, e.g. `/data`.
    public var path: String
    /// The raw (still percent-encoded) query string, without `?`.
    public var query: String
    /// nginx's `$request_id`, or one the responder made when called directly.
    public var requestID: String
    /// The client name nginx mapped the API key to, if any.
    public var client: String?

    /// Creates a request.
    public init(method: String, path: String, query: String = "", requestID: String, client: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.requestID = requestID
        self.client = client
    }
}

/// An HTTP response: status, extra headers and a JSON body.
public struct Response: Sendable {
    /// HTTP status code.
    public var status: Int
    /// Header fields besides Content-Type, Content-Length and X-Request-ID.
    public var headers: [(String, String)]
    /// The body bytes (UTF-8 JSON).
    public var body: [UInt8]
    /// Content type of the body.
    public var contentType: String

    /// Creates a JSON response from text.
    public init(status: Int, body: String, headers: [(String, String)] = [],
                contentType: String = "application/json; charset=utf-8") {
        self.init(status: status, bytes: Array(body.utf8), headers: headers, contentType: contentType)
    }

    /// Creates a response from bytes already encoded.
    public init(status: Int, bytes: [UInt8], headers: [(String, String)] = [],
                contentType: String = "application/json; charset=utf-8") {
        self.status = status
        self.body = bytes
        self.headers = headers
        self.contentType = contentType
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

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
    /// A 500 that hides its cause from the client (it is logged).
    public static let internalError = APIError(status: 500, code: "internal_error",
                                               message: "internal error; the request id identifies it in the logs")

    /// Renders the error body for `requestID`.
    func response(requestID: String, latencyMS: Double) -> Response {
        let body = "{\"error\":{\"code\":\(jsonString(code)),\"message\":\(jsonString(message))},"
            + "\"request_id\":\(jsonString(requestID)),\"api_latency_ms\":\(formatLatency(latencyMS))}"
        return Response(status: status, body: body, headers: headers.sorted { $0.key < $1.key })
    }
}

/// Milliseconds with three decimals, as a JSON number.
func formatLatency(_ ms: Double) -> String {
    let micros = Int((ms * 1000).rounded())
    let fraction = String(micros % 1000)
    return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
