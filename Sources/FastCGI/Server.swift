// The responder's threads: each owns an FCGX_Request and its handler state; SIGTERM drains and exits.
import CFastCGI
import Glibc
import HTTPMessage
import Logging
import Synchronization

/// Handles requests on one worker thread; created on that thread, used only there.
public protocol RequestHandling: AnyObject {
    /// Answers one request.
    func handle(_ request: Request) -> Response
}

/// A fixed pool of threads accepting FastCGI requests on one listening socket.
///
/// Each thread waits in `poll` on the (non-blocking) listening socket and a wake-up pipe, so a
/// shutdown wakes idle threads at once (libfcgi's blocking `accept` would not wake). On SIGTERM or
/// SIGINT the pool stops accepting, lets requests in flight finish, and returns within `drainSeconds`.
public final class Server: Sendable {
    private let listenFD: Int32
    private let threadCount: Int
    private let drainSeconds: Double
    private let makeHandler: @Sendable () -> any RequestHandling
    private let onWriteFailure: @Sendable () -> Void
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    private let running = Atomic<Int>(0)
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Creates the pool. `makeHandler` runs once on each worker thread; `onWriteFailure` is called
    /// for each response that could not be written (nginx or the client went away).
    public init(listenFD: Int32, threads: Int, drainSeconds: Double = 4.5, logger: Logger,
                onWriteFailure: @escaping @Sendable () -> Void = {},
                makeHandler: @escaping @Sendable () -> any RequestHandling) throws(ServerError) {
        self.listenFD = listenFD
        self.threadCount = threads
        self.drainSeconds = drainSeconds
        self.makeHandler = makeHandler
        self.onWriteFailure = onWriteFailure
        self.logger = logger
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ServerError.system("pipe") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        guard fcntl(wakeRead, F_SETFD, FD_CLOEXEC) == 0, fcntl(wakeWrite, F_SETFD, FD_CLOEXEC) == 0 else {
            close(wakeRead)
            close(wakeWrite)
            throw ServerError.system("fcntl(FD_CLOEXEC) on the wake-up pipe")
        }
        let flags = fcntl(listenFD, F_GETFL)
        guard flags >= 0, fcntl(listenFD, F_SETFL, flags | O_NONBLOCK) == 0 else {
            close(wakeRead)
            close(wakeWrite)
            throw ServerError.system("fcntl(O_NONBLOCK) on the listening socket")
        }
    }

    /// Runs until SIGTERM/SIGINT, then drains. Call from the main thread before any other thread exists.
    public func run() {
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGTERM)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        signal(SIGPIPE, SIG_IGN)
        FCGX_Init()

        for index in 0..<threadCount {
            running.add(1, ordering: .relaxed)
            let box = Unmanaged.passRetained(WorkerStart(server: self, index: index))
            var thread = pthread_t()
            let result = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.server.work(index: start.index)
                return nil
            }, box.toOpaque())
            if result != 0 {
                box.release()
                running.subtract(1, ordering: .relaxed)
                logger.critical("cannot start worker thread", metadata: ["errno": "\(result)"])
            } else {
                pthread_detach(thread)
            }
        }
        logger.info("responder ready", metadata: ["threads": "\(threadCount)", "pid": "\(getpid())"])

        var received: Int32 = 0
        sigwait(&mask, &received)
        stopping.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
        logger.info("stopping: no new connections, draining requests in flight",
                    metadata: ["signal": "\(received == SIGTERM ? "SIGTERM" : "SIGINT")", "in_flight": "\(inFlight.load(ordering: .relaxed))"])
        var waited = 0.0
        // Idle threads leave at once; threads holding an idle kept-alive connection never will,
        // so the pool is done when no request is in flight.
        while waited < drainSeconds && (inFlight.load(ordering: .sequentiallyConsistent) > 0
                                         || (running.load(ordering: .relaxed) > 0 && waited < 0.2)) {
            usleep(10_000)
            waited += 0.01
        }
        logger.info("stopped", metadata: ["in_flight": "\(inFlight.load(ordering: .relaxed))",
                                          "drain_ms": "\(Int(waited * 1000))"])
    }

    private final class WorkerStart {
        let server: Server
        let index: Int
        init(server: Server, index: Int) {
            self.server = server
            self.index = index
        }
    }

    private func work(index: Int) {
        defer { running.subtract(1, ordering: .relaxed) }
        let handler = makeHandler()
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        guard FCGX_InitRequest(request, listenFD, 0) == 0 else {
            logger.critical("FCGX_InitRequest failed", metadata: ["thread": "\(index)"])
            return
        }
        var polls = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                     pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        var backoff = AcceptBackoff()
        while !stopping.load(ordering: .relaxed) {
            if request.pointee.ipcFd < 0 {
                polls[0].revents = 0
                polls[1].revents = 0
                let ready = poll(&polls, 2, -1)
                if ready < 0 && errno == EINTR { continue }
                if polls[1].revents != 0 { break }
                if polls[0].revents == 0 { continue }
            }
            // Non-blocking accept: another thread may have taken the connection (EAGAIN → poll again).
            let accepted = FCGX_Accept_r(request)
            guard accepted >= 0 else {
                // Any other failure (EMFILE, ENFILE, ENOMEM…) would repeat at once: say so once, back off.
                if accepted != -EAGAIN && accepted != -EWOULDBLOCK && accepted != -EINTR {
                    if let delay = backoff.failed() {
                        logger.error("accept failed; backing off", metadata: [
                            "thread": "\(index)", "error": "\(String(cString: strerror(-accepted)))",
                            "retry_ms": "\(delay / 1000)"])
                    }
                    usleep(backoff.delayMicros)
                }
                continue
            }
            if backoff.recovered() { logger.info("accept works again", metadata: ["thread": "\(index)"]) }
            inFlight.add(1, ordering: .sequentiallyConsistent)
            let response = handler.handle(readRequest(request))
            write(response, to: request)
            if stopping.load(ordering: .sequentiallyConsistent) { request.pointee.keepConnection = 0 }
            FCGX_Finish_r(request)
            inFlight.subtract(1, ordering: .sequentiallyConsistent)
        }
        FCGX_Finish_r(request)
    }

    private func readRequest(_ request: UnsafeMutablePointer<FCGX_Request>) -> Request {
        func param(_ name: String) -> String? {
            FCGX_GetParam(name, request.pointee.envp).map { String(cString: $0) }
        }
        let uri = param("DOCUMENT_URI") ?? param("SCRIPT_NAME") ?? "/"
        let requestID = param("REQUEST_ID").flatMap { $0.isEmpty ? nil : $0 } ?? Server.makeRequestID()
        return Request(method: param("REQUEST_METHOD") ?? "GET", path: uri, query: param("QUERY_STRING") ?? "",
                       requestID: requestID, client: param("KASPARRO_CLIENT").flatMap { $0.isEmpty ? nil : $0 },
                       accept: param("HTTP_ACCEPT"), ifNoneMatch: param("HTTP_IF_NONE_MATCH"))
    }

    private func write(_ response: Response, to request: UnsafeMutablePointer<FCGX_Request>) {
        var head = "Status: \(response.status) \(Server.reason(response.status))\r\n"
        if response.status != 304 {  // a 304 has no body, so neither type nor length of one
            head += "Content-Type: \(response.contentType)\r\n"
            head += "Content-Length: \(response.body.count)\r\n"
        }
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let written = head.withUTF8 { put(UnsafeRawBufferPointer($0), request) }
            && response.body.withUnsafeBytes { put($0, request) }
        if !written { onWriteFailure() }
    }

    /// Writes bytes to the request's output stream; false when libfcgi could not (peer gone).
    private func put(_ bytes: UnsafeRawBufferPointer, _ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return true }
        return FCGX_PutStr(start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out) == Int32(bytes.count)
    }

    private static func makeRequestID() -> String {
        (0..<16).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// Exponential back-off after accept failures, so a persistent error (out of file descriptors)
/// neither spins a core nor floods the log: one line when failures start, one when they stop.
struct AcceptBackoff {
    /// The current delay before the next attempt.
    private(set) var delayMicros: UInt32 = 0
    private static let first: UInt32 = 10_000
    private static let limit: UInt32 = 1_000_000

    /// Records a failure; returns the new delay when this is the first of a streak (time to log).
    mutating func failed() -> UInt32? {
        let starting = delayMicros == 0
        delayMicros = starting ? AcceptBackoff.first : min(delayMicros * 2, AcceptBackoff.limit)
        return starting ? delayMicros : nil
    }

    /// Records a success; true when it ends a streak of failures.
    mutating func recovered() -> Bool {
        defer { delayMicros = 0 }
        return delayMicros != 0
    }
}

/// The pool could not be set up.
public struct ServerError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String

    static func system(_ call: String) -> ServerError {
        ServerError(description: "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
