// The request and response values handlers work with, independent of libfcgi and of the database.

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
    /// The `Accept` header, if any (`/` offers HTML, `/data` CSV, besides JSON).
    public var accept: String?
    /// The `If-None-Match` header, if any (`/data` answers 304 when it names the current page).
    public var ifNoneMatch: String?

    /// Creates a request.
    public init(method: String, path: String, query: String = "", requestID: String, client: String? = nil,
                accept: String? = nil, ifNoneMatch: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.requestID = requestID
        self.client = client
        self.accept = accept
        self.ifNoneMatch = ifNoneMatch
    }
}

/// An HTTP response: status, extra headers and a body (JSON, unless `contentType` says otherwise).
public struct Response: Sendable {
    /// HTTP status code.
    public var status: Int
    /// Header fields besides Content-Type, Content-Length and X-Request-ID.
    public var headers: [(String, String)]
    /// The body bytes (UTF-8).
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
