// Routes a request to its handler and renders every outcome, success or error, as JSON.
import Foundation
import HTTPMessage
import Logging
import Telemetry

/// The application: a pure function from request to response, given a thread's database session.
public struct Router: Sendable {
    /// Settings the handlers need.
    public struct Settings: Sendable {
        /// A source whose last success is older than this makes `/health` degraded.
        public var staleAfterSeconds: Int
        /// A standby whose replay is further behind than this makes `/health` degraded.
        public var replicaMaxLagSeconds: Double
        /// Creates settings.
        public init(staleAfterSeconds: Int = 3600, replicaMaxLagSeconds: Double = 60) {
            self.staleAfterSeconds = staleAfterSeconds
            self.replicaMaxLagSeconds = replicaMaxLagSeconds
        }
    }

    private let settings: Settings
    private let logger: Logger
    private let cache: PageCache
    private let watcher: VersionWatcher?
    private let probes: DatabaseProbes?
    /// `/health`'s answer, shared by the process's threads for up to a second.
    private let health = Recent<Health.Result>(maxAge: 1, waitSeconds: ReadSession.statementTimeoutSeconds)
    /// Pool-wide request metrics.
    public let metrics: SharedMetrics

    /// Creates the router. Without a `watcher` every `/data` request asks the database for the
    /// data version; with one, only while the watcher is not sure of it.
    public init(settings: Settings = Settings(), logger: Logger = Logger(label: "kasparro-api"),
                metrics: SharedMetrics = .inMemory(), cache: PageCache = PageCache(), watcher: VersionWatcher? = nil,
                probeConninfo: String? = nil) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.cache = cache
        self.watcher = watcher
        self.probes = probeConninfo.map(DatabaseProbes.init)
    }

    /// Answers one request, counts it in the pool's metrics and logs it. Never throws: every
    /// failure becomes a JSON error response.
    public func handle(_ request: Request, session: ReadSession) -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        metrics.inFlight(1)
        let response = route(request, session: session, started: started)
        metrics.inFlight(-1)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000_000
        metrics.record(path: request.path, status: response.status, seconds: seconds)
        // nginx's access log has a line per request (same request_id, client, status and upstream
        // time); here a line per request only at debug: at 20,000 requests/s it cost 8% of the
        // responders' throughput, more under journald. Failures and slow requests are always logged.
        let level: Logger.Level = response.status >= 500 ? .warning : seconds >= Router.slowRequestSeconds ? .info : .debug
        logger.log(level: level, "request", metadata: [
            "request_id": "\(request.requestID)", "client": "\(request.client ?? "-")", "method": "\(request.method)",
            "path": "\(request.path)", "status": .stringConvertible(response.status),
            "duration_ms": .stringConvertible((seconds * 1_000_000).rounded() / 1000)])
        return response
    }

    private func route(_ request: Request, session: ReadSession, started: UInt64) -> Response {
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000 }
        var response: Response
        do {
            guard let route = Route(rawValue: request.path) else { throw APIError.notFound(request.path) }
            guard request.method == "GET" || request.method == "HEAD" else { throw APIError.methodNotAllowed(request.method) }
            let body: [UInt8]
            switch route {
            case .root:
                _ = try QueryParameters(request.query, allowed: [])
                if Index.wantsHTML(request.accept) {
                    response = Response(status: 200, bytes: Index.html, contentType: "text/html; charset=utf-8")
                    return finish(response, request)
                }
                body = Index.json(requestID: request.requestID, latencyMS: elapsed())
            case .health:
                _ = try QueryParameters(request.query, allowed: [])
                let result = health.get { Health(settings: settings, probes: probes).report(session: session) }
                response = Response(status: result.httpStatus, bytes: result.body(requestID: request.requestID, latencyMS: elapsed()))
                return finish(response, request)
            case .data:
                response = try DataPage.render(request, session: session, cache: cache, watcher: watcher, metrics: metrics,
                                               elapsed: elapsed)
                return finish(response, request)
            case .stats:
                _ = try QueryParameters(request.query, allowed: [])
                body = try Stats.render(session: session, requestID: request.requestID, elapsed: elapsed)
            case .metrics:
                _ = try QueryParameters(request.query, allowed: [])
                let databases = probes == nil ? nil
                    : health.get { Health(settings: settings, probes: probes).report(session: session) }.databases
                response = Response(status: 200, body: Metrics.render(session: session, metrics: metrics, databases: databases),
                                    contentType: Metrics.contentType)
                return finish(response, request)
            case .compareRuns:
                body = try CompareRuns.render(query: request.query, session: session, requestID: request.requestID, elapsed: elapsed)
            case .runs:
                body = try Runs.render(query: request.query, session: session, requestID: request.requestID, elapsed: elapsed)
            }
            response = Response(status: 200, bytes: body)
        } catch let error as APIError {
            response = error.response(requestID: request.requestID, latencyMS: elapsed())
        } catch {
            logger.error("unhandled error", metadata: ["request_id": "\(request.requestID)", "error": "\(error)"])
            response = APIError.internalError.response(requestID: request.requestID, latencyMS: elapsed())
        }
        return finish(response, request)
    }

    private func finish(_ response: Response, _ request: Request) -> Response {
        var response = response
        if !response.headers.contains(where: { $0.0 == "Cache-Control" }) { response.headers.append(("Cache-Control", "no-store")) }
        response.headers.append(("X-Request-ID", request.requestID))
        if request.method == "HEAD" { response.body = [] }
        return response
    }

    /// A request taking this long is logged at info level (others at debug, failures at warning).
    static let slowRequestSeconds = 1.0
}

/// The paths this responder serves, the one table of them: any other path is a 404, another
/// method on one of these a 405.
enum Route: String {
    case root = "/"
    case health = "/health"
    case data = "/data"
    case stats = "/stats"
    case runs = "/runs"
    case compareRuns = "/compare-runs"
    case metrics = "/metrics"
}

/// The head of a JSON success body, `{"request_id":…,"api_latency_ms":…`: the caller appends
/// fields and closes the object.
func envelope(requestID: String, latencyMS: Double, capacity: Int = 512) -> JSONWriter {
    var out = JSONWriter(capacity: capacity)
    out.openObject()
    out.field("request_id", requestID)
    out.field("api_latency_ms", json: formatLatency(latencyMS))
    return out
}
