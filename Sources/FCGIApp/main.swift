// kasparro-api: the FastCGI responder. Parses arguments, finds its socket, runs the thread pool.
import API
import ArgumentParser
import FastCGI
import Foundation
import HTTPMessage
import Logging
import Support
import Telemetry

struct KasparroAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kasparro-api",
        abstract: "Serves the market-data API over FastCGI (behind nginx).",
        discussion: """
        The listening socket is the one systemd hands over (LISTEN_FDS, fd 3), else fd 0 when it
        is a listening socket, else --socket PATH. DATABASE_URL names the read-only role
        (no password in it: use PGPASSFILE). LOG_LEVEL sets the log level.
        """,
        version: kasparroVersion)

    @Option(help: "Unix socket path to bind when none is handed over.")
    var socket: String?

    @Option(help: "Permission bits for a socket bound with --socket (octal).")
    var socketMode: String = "660"

    @Option(help: "Worker threads, each with its own FastCGI request and database connection.")
    var threads: Int = 8

    @Option(help: "Shared-memory metrics file for the whole pool (default: $RUNTIME_DIRECTORY/metrics under systemd).")
    var metricsFile: String?

    @Option(help: "Seconds since a source's last success after which /health says degraded (default: HEALTH_STALE_SECONDS, else 3600).")
    var staleAfter: Int?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be from 1 to 256") }
        guard mode_t(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, like 660") }
        if let staleAfter, staleAfter < 1 { throw ValidationError("--stale-after must be ≥ 1") }
    }

    func run() throws {
        MemoryTrim.limitArenas()
        let staleAfterSeconds: Int
        let maxLagSeconds: Int
        let schemaWaitSeconds: Int
        do {
            try JSONLogHandler.bootstrap()
            let settings = EnvironmentSettings(ProcessInfo.processInfo.environment)
            staleAfterSeconds = try staleAfter ?? settings.integer("HEALTH_STALE_SECONDS", default: 3600, in: 1...Int.max)
            maxLagSeconds = try settings.integer("REPLICA_MAX_LAG_SECONDS", default: 60, in: 1...Int.max)
            schemaWaitSeconds = try settings.integer("SCHEMA_WAIT_SECONDS", default: 2, in: 0...60)
        } catch {
            FileHandle.standardError.write(Data("kasparro-api: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let logger = Logger(label: "kasparro-api")
        guard let conninfo = ProcessInfo.processInfo.environment["DATABASE_URL"], !conninfo.isEmpty else {
            logger.critical("DATABASE_URL is not set (a libpq conninfo or URI for the read-only API role)")
            throw ExitCode.failure
        }
        let fd: Int32
        if let inherited = ListenSocket.inherited() {
            fd = inherited
            logger.info("using inherited listening socket", metadata: ["fd": "\(fd)"])
        } else if let socket {
            fd = try ListenSocket.bind(path: socket, mode: mode_t(socketMode, radix: 8)!)
            logger.info("listening", metadata: ["socket": "\(socket)"])
        } else {
            logger.critical("no listening socket: pass --socket PATH or start under systemd socket activation")
            throw ExitCode.failure
        }
        let metrics: SharedMetrics
        if let path = metricsFile ?? ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"].map({ $0 + "/metrics" }) {
            metrics = try SharedMetrics(path: path)
        } else {
            logger.warning("no --metrics-file: /metrics reports this process only")
            metrics = .inMemory()
        }
        let cache = PageCache(onSize: { bytes, entries in metrics.pageCache(bytes: bytes, entries: entries) })
        let watcher = VersionWatcher(conninfo: conninfo, logger: logger, maxLagSeconds: Double(maxLagSeconds),
                                     onRegression: { cache.removeAll() }, onConnect: { metrics.listenerConnected() })
        watcher.start()
        MemoryTrim.start(logger: logger)
        let router = Router(settings: .init(staleAfterSeconds: staleAfterSeconds, replicaMaxLagSeconds: Double(maxLagSeconds)),
                            logger: logger, metrics: metrics, cache: cache, watcher: watcher, probeConninfo: conninfo)
        let server = try Server(listenFD: fd, threads: threads, logger: logger, onWriteFailure: { metrics.writeFailure() }) {
            Worker(router: router, session: ReadSession(conninfo: conninfo, logger: logger,
                                                        onDatabaseError: { metrics.databaseError() },
                                                        standbyEpoch: { watcher.standbyEpoch },
                                                        avoidanceEpoch: { watcher.avoidanceEpoch },
                                                        avoidedServers: { watcher.avoidedServers },
                                                        schemaWaitSeconds: Double(schemaWaitSeconds)))
        }
        metrics.registerProcess(threads: threads)
        server.run()
        metrics.unregisterProcess()
        if let socket, ListenSocket.inherited() == nil { unlink(socket) }
    }
}

/// One thread's handler: the shared router plus this thread's own database session.
final class Worker: RequestHandling {
    let router: Router
    let session: ReadSession

    init(router: Router, session: ReadSession) {
        self.router = router
        self.session = session
    }

    func handle(_ request: Request) -> Response {
        router.handle(request, session: session)
    }
}

KasparroAPI.main()
