// A blocking HTTP GET over libcurl: timeouts, gzip, TLS verification, no signals. One handle per client.
import CCurl
import Foundation

/// A response as received.
public struct HTTPResponse: Sendable {
    /// HTTP status code.
    public let status: Int
    /// Header fields with lower-cased names (the last value wins).
    public let headers: [String: String]
    /// The decoded body (gzip already undone).
    public let body: [UInt8]
}

/// A transfer that did not produce an HTTP response.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable { case timeout, resolve, connect, transfer, tooLarge, setup }
    private let code: Code
    /// libcurl's message for the failure.
    public let detail: String

    /// The request took longer than its time limit.
    public static func timeout(_ detail: String) -> HTTPClientError { HTTPClientError(code: .timeout, detail: detail) }
    /// The host name could not be resolved (no network, or a wrong base URL).
    public static func resolve(_ detail: String) -> HTTPClientError { HTTPClientError(code: .resolve, detail: detail) }
    /// The host could not be connected.
    public static func connect(_ detail: String) -> HTTPClientError { HTTPClientError(code: .connect, detail: detail) }
    /// The transfer broke off (reset, truncated, TLS failure).
    public static func transfer(_ detail: String) -> HTTPClientError { HTTPClientError(code: .transfer, detail: detail) }
    /// The body passed the client's size limit (on the wire, or decompressed), and was dropped.
    public static func tooLarge(_ detail: String) -> HTTPClientError { HTTPClientError(code: .tooLarge, detail: detail) }
    /// libcurl could not be set up.
    public static func setup(_ detail: String) -> HTTPClientError { HTTPClientError(code: .setup, detail: detail) }

    /// Whether retrying might help (timeouts, refused connections, broken transfers). A name that
    /// does not resolve fails at once: offline machines report it without waiting through retries;
    /// so does a body over the size limit (the next one would be as large).
    public var isTransient: Bool { code != .setup && code != .resolve && code != .tooLarge }

    /// Names the kind of failure and libcurl's reason.
    public var description: String {
        switch code {
        case .timeout: return "timed out: \(detail)"
        case .resolve: return "cannot resolve host (no network?): \(detail)"
        case .connect: return "cannot connect: \(detail)"
        case .transfer: return "transfer failed: \(detail)"
        case .tooLarge: return "response too large: \(detail)"
        case .setup: return "HTTP client setup failed: \(detail)"
        }
    }
}

/// Performs GET requests with one reusable libcurl easy handle (keeps connections alive).
/// Not thread-safe: one client per thread.
public final class HTTPClient {
    /// Seconds allowed to establish a connection.
    public var connectTimeout: Int = 5
    /// Seconds allowed for a whole transfer.
    public var totalTimeout: Int = 30
    /// Bytes a body may have, both as received and after decompression; a larger one is cut off
    /// (libcurl 7.88's CURLOPT_MAXFILESIZE does not stop a body of unannounced size, and never
    /// bounds what gzip expands to).
    public var maxBodyBytes: Int = 64 << 20
    /// Sent as User-Agent.
    public var userAgent = "kasparro-etl/1.0"

    private let handle: UnsafeMutableRawPointer

    /// Creates a client; libcurl's global state is set up on first use.
    public init() throws(HTTPClientError) {
        HTTPClient.globalInit
        guard let handle = curl_easy_init() else { throw .setup("curl_easy_init returned NULL") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// GETs `url` with extra request headers (`Name: value`). Header values are never logged.
    public func get(_ url: String, headers: [String] = []) throws(HTTPClientError) -> HTTPResponse {
        final class Sink {
            var body: [UInt8] = []
            var headers: [String: String] = [:]
            let limit: Int
            var overLimit: String?
            init(limit: Int) { self.limit = limit }
        }
        let sink = Sink(limit: maxBodyBytes)
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            let opaque = Unmanaged.passUnretained(sink).toOpaque()
            _ = kasparro_curl_setopt_string(handle, CURLOPT_URL, url)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, connectTimeout)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_TIMEOUT, totalTimeout)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            _ = kasparro_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
            _ = kasparro_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent)
            _ = kasparro_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
            _ = kasparro_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(buffer.baseAddress))
            _ = kasparro_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, opaque)
            _ = kasparro_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, opaque)
            _ = kasparro_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, opaque)
            _ = kasparro_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
            // Decompressed bytes arrive here: past the limit, returning less than given stops the transfer.
            _ = kasparro_curl_setopt_write_function(handle) { data, size, count, user in
                let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                guard sink.body.count + size * count <= sink.limit else {
                    sink.overLimit = "body over \(sink.limit) bytes decompressed; stopped"
                    return 0
                }
                sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            }
            // Bytes on the wire: a compressed body that never ends (or expands to nothing) stops here.
            _ = kasparro_curl_setopt_xferinfo_function(handle) { user, _, received, _, _ in
                let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                guard received <= sink.limit else {
                    sink.overLimit = "body over \(sink.limit) bytes received; stopped"
                    return 1
                }
                return 0
            }
            _ = kasparro_curl_setopt_header_function(handle) { data, size, count, user in
                let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                if line.hasPrefix("HTTP/") { sink.headers.removeAll() }
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                    sink.headers[name] = value
                }
                return size * count
            }
            return curl_easy_perform(handle)
        }
        if let overLimit = sink.overLimit { throw .tooLarge(overLimit) }
        guard code == CURLE_OK else {
            let written = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = written.isEmpty ? String(cString: curl_easy_strerror(code)) : written
            switch code {
            case CURLE_OPERATION_TIMEDOUT: throw .timeout(message)
            case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: throw .resolve(message)
            case CURLE_COULDNT_CONNECT: throw .connect(message)
            default: throw .transfer(message)
            }
        }
        var status = 0
        _ = kasparro_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }
}
