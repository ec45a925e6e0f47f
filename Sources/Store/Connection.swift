// A small owning wrapper over one libpq connection: parameters always bound, results copied out.
import CPostgreSQL
import Glibc
import Support

/// One PostgreSQL connection. Not thread-safe: each thread owns its own.
public final class Connection {
    private var handle: OpaquePointer?
    /// Statement names by their SQL text: the SQL is the key, so two statements can never share a name.
    private var prepared: [String: String] = [:]
    private let notices: NoticeSink?
    private let conninfo: String
    private let applicationName: String
    private let statementTimeoutMS: Int
    private let genericPlans: Bool
    private let overrides: [(String, String)]

    /// Connects with a libpq conninfo string or URI (`DATABASE_URL`).
    ///
    /// `connect_timeout` defaults to 3 seconds and the session time zone is UTC. JIT is off: these
    /// are short statements, and once the tables are large their estimated cost passes
    /// `jit_above_cost`, so every execution of a generic plan compiled code first (measured at
    /// 30,000,000 rows: 127 ms of JIT in a 164 ms page query).
    ///
    /// `generic plans` makes prepared statements keep one plan (`plan_cache_mode`): the API's
    /// statements are shaped so one plan fits every value, and re-planning each execution was
    /// the largest cost measured on the `/data` path.
    /// Such sessions also run without parallel workers: every API statement is bounded by design,
    /// and a generic plan's estimate over a month's partition chose a Gather whose worker start
    /// took 5–9 ms of a 9 ms total count (0.5 ms without; 30,000,000 rows, 2026-12-02).
    ///
    /// `onNotice` receives the server's notices and warnings (`NOTICE: relation … already exists`),
    /// which libpq would otherwise print raw to stderr; without it they are dropped.
    ///
    /// `overrides` are libpq keywords that win over the conninfo's own (`target_session_attrs`,
    /// `connect_timeout`): libpq takes the last value of a repeated keyword.
    public init(conninfo: String, applicationName: String, statementTimeoutMS: Int = 0,
                genericPlans: Bool = false, overrides: [(String, String)] = [],
                onNotice: (@Sendable (String) -> Void)? = nil) throws(DatabaseError) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.statementTimeoutMS = statementTimeoutMS
        self.genericPlans = genericPlans
        self.overrides = overrides
        self.notices = NoticeSink(onNotice)
        let keys = ["connect_timeout", "application_name", "dbname", "options"] + overrides.map(\.0)
        let values = ["3", applicationName, conninfo,
                      Connection.sessionOptions(statementTimeoutMS: statementTimeoutMS, genericPlans: genericPlans)]
            + overrides.map(\.1)
        // Started, not finished, so the notice processor is in place before the server can say
        // anything: libpq parses what follows the start-up's ReadyForQuery in the same read, and a
        // FATAL there (a backend terminated just then) would reach libpq's default processor, a raw
        // line on stderr. Driving the start-up ourselves means doing what PQconnectdbParams does on
        // a host's `connect_timeout`: go on with the other hosts, here by starting again without it.
        var timedOut: Set<String> = []
        var hosts: [(String, String)] = []  // after a host timed out: the others, as libpq keywords
        while true {
            if let handle { PQfinish(handle) }
            handle = withCStringArray(keys + hosts.map(\.0)) { k in
                withCStringArray(values + hosts.map(\.1)) { v in PQconnectStartParams(k, v, 1) }
            }
            installNoticeProcessor()
            guard let handle else { throw DatabaseError(.connection, detail: "out of memory") }
            let outcome = Connection.finishConnecting(handle)
            if case .connected = outcome { return }
            if case .timedOut(let server) = outcome {
                timedOut.insert(server)
                hosts = ConnectionTarget(values: Connection.options(of: handle)).overrides(excluding: timedOut)
                if !hosts.isEmpty { continue }
            }
            let message = outcome.isTimeout ? "timeout expired" : String(String(cString: PQerrorMessage(handle)).trimmingBlanks())
            PQfinish(handle)
            self.handle = nil
            throw DatabaseError(.connection, detail: message)
        }
    }

    private enum StartUp {
        case connected, failed, timedOut(server: String)
        var isTimeout: Bool { if case .timedOut = self { true } else { false } }
    }

    /// The connection's settings as libpq holds them (PQconninfo).
    private static func options(of handle: OpaquePointer) -> [String: String] {
        guard let options = PQconninfo(handle) else { return [:] }
        defer { PQconninfoFree(options) }
        return values(of: options)
    }

    /// The keywords that have a value in a libpq option array, and their values.
    static func values(of options: UnsafeMutablePointer<PQconninfoOption>) -> [String: String] {
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return values
    }

    /// Drives a started connection to its end (libpq's PQconnectPoll loop), waiting at most the
    /// connection's `connect_timeout` (at least 2 s, as libpq reads it; 0 waits) for each address.
    private static func finishConnecting(_ handle: OpaquePointer) -> StartUp {
        guard PQstatus(handle) != CONNECTION_BAD else { return .failed }
        let setting = Int(options(of: handle)["connect_timeout"] ?? "") ?? 0
        let timeout = setting <= 0 ? Double.infinity : Double(max(setting, 2))
        func seconds() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
        var state = PGRES_POLLING_WRITING
        var socket = PQsocket(handle)
        var end = seconds() + timeout
        while state != PGRES_POLLING_OK {
            guard state != PGRES_POLLING_FAILED else { return .failed }
            if PQsocket(handle) != socket {  // the next address or host: its own time
                socket = PQsocket(handle)
                end = seconds() + timeout
            }
            let left = end - seconds()
            guard left > 0 else { return .timedOut(server: server(of: handle)) }
            var descriptor = pollfd(fd: socket, events: Int16(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(left * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { return .failed }
            if ready > 0 { state = PQconnectPoll(handle) }
        }
        return PQstatus(handle) == CONNECTION_OK ? .connected : .failed
    }

    /// The session settings sent as libpq's `options`: UTC, no JIT, the statement timeout, and for
    /// generic-plan (API) sessions one plan per statement and no parallel workers.
    static func sessionOptions(statementTimeoutMS: Int, genericPlans: Bool) -> String {
        "-c TimeZone=UTC -c jit=off -c statement_timeout=\(statementTimeoutMS)"
            + (genericPlans ? " -c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0" : "")
    }

    /// Routes the server's notices to `notices` instead of libpq's default (a raw line on stderr).
    private func installNoticeProcessor() {
        guard let handle else { return }
        let context = notices.map { Unmanaged.passUnretained($0).toOpaque() }
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.deliver(String(String(cString: message).trimmingBlanks()))
        }, context)
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Whether libpq still considers the connection usable.
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs one statement with text parameters (`$1`, `$2`, …) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws(DatabaseError) -> QueryResult {
        let handle = try liveHandle()
        return try QueryResult(try execUnprepared(handle, sql, params), connection: handle)
    }

    /// Runs `sql` as a prepared statement, preparing it on its first use on this connection.
    @discardableResult
    public func queryPrepared(_ sql: String, _ params: [String?] = []) throws(DatabaseError) -> QueryResult {
        let handle = try liveHandle()
        return try QueryResult(try execPrepared(handle, sql, params), connection: handle)
    }

    /// Runs `sql` as a prepared statement and hands its rows to `body` without copying them into
    /// Swift strings (for hot paths that write the bytes straight into a response).
    public func withPreparedRows<T>(_ sql: String, _ params: [String?],
                                    _ body: (RowView) throws -> T) throws -> T {
        let handle = try liveHandle()
        return try Self.view(try execPrepared(handle, sql, params), handle, body)
    }

    /// Runs `sql` once, unprepared (PostgreSQL plans it for this execution; with the API's generic
    /// plans, literals in it are what the planner sees), and hands its rows to `body` as
    /// `withPreparedRows` does.
    public func withRows<T>(_ sql: String, _ params: [String?], _ body: (RowView) throws -> T) throws -> T {
        let handle = try liveHandle()
        return try Self.view(try execUnprepared(handle, sql, params), handle, body)
    }

    /// Checks a result and hands its rows to `body`, clearing it afterwards.
    private static func view<T>(_ raw: OpaquePointer?, _ handle: OpaquePointer, _ body: (RowView) throws -> T) throws -> T {
        let result = try QueryResult.check(raw, connection: handle)
        defer { PQclear(result) }
        return try body(RowView(result: result))
    }

    /// Executes `sql` unnamed (planned for this execution); the caller checks the result.
    private func execUnprepared(_ handle: OpaquePointer, _ sql: String, _ params: [String?]) throws(DatabaseError) -> OpaquePointer? {
        try checkParams(params)
        return withCStringArray(params) { values in
            PQexecParams(handle, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
    }

    /// Prepares `sql` under a name of its own on first use, then executes it; the caller checks the result.
    private func execPrepared(_ handle: OpaquePointer, _ sql: String, _ params: [String?]) throws(DatabaseError) -> OpaquePointer? {
        try checkParams(params)
        let name: String
        if let known = prepared[sql] {
            name = known
        } else {
            name = "k\(prepared.count + 1)"
            _ = try QueryResult(PQprepare(handle, name, sql, Int32(params.count), nil), connection: handle)
            prepared[sql] = name
        }
        return withCStringArray(params) { values in
            PQexecPrepared(handle, name, Int32(params.count), values, nil, nil, 0)
        }
    }

    /// Runs statements without parameters (several may be separated by `;`).
    public func execute(_ sql: String) throws(DatabaseError) {
        let handle = try liveHandle()
        _ = try QueryResult(PQexec(handle, sql), connection: handle)
    }

    /// Runs `body` inside BEGIN/COMMIT; any error rolls back and is rethrown.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// The connection's socket, for `poll` (-1 when closed).
    public var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    /// The server this connection is on, `host:port` as libpq names it (PQhost, PQport): the key
    /// `ConnectionTarget.overrides(_:excluding:)` leaves out.
    public var server: String { handle.map(Connection.server(of:)) ?? "" }

    private static func server(of handle: OpaquePointer) -> String {
        ConnectionTarget.key(host: PQhost(handle).map { String(cString: $0) } ?? "",
                             port: PQport(handle).map { String(cString: $0) } ?? "")
    }

    /// Reads whatever the server has sent (notifications) without blocking; throws when the
    /// connection broke (the server closed it, or it was terminated).
    public func consumeInput() throws(DatabaseError) {
        let handle = try liveHandle()
        guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else {
            throw DatabaseError(.connection, detail: String(String(cString: PQerrorMessage(handle)).trimmingBlanks()))
        }
    }

    /// The `NOTIFY` messages received so far (after `LISTEN`), oldest first.
    public func notifications() -> [(channel: String, payload: String)] {
        guard let handle else { return [] }
        var received: [(channel: String, payload: String)] = []
        while let notify = PQnotifies(handle) {
            received.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }

    /// Drops and re-opens the connection (after the server restarted); forgets prepared statements.
    public func reconnect() throws(DatabaseError) {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared.removeAll()
        let fresh = try Connection(conninfo: conninfo, applicationName: applicationName, statementTimeoutMS: statementTimeoutMS,
                                   genericPlans: genericPlans, overrides: overrides)
        swap(&handle, &fresh.handle)
        installNoticeProcessor()
    }

    private func liveHandle() throws(DatabaseError) -> OpaquePointer {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw DatabaseError(.connection, detail: "connection is closed")
        }
        return handle
    }

    private func checkParams(_ params: [String?]) throws(DatabaseError) {
        // memchr over the UTF-8 storage: a batch's array literals are megabytes, and the generic
        // `contains` was a tenth of the ETL writer's time (perf, 1,000,000-row CSV load).
        for case let value? in params where value.utf8.withContiguousStorageIfAvailable({ bytes in
            bytes.count > 0 && memchr(bytes.baseAddress!, 0, bytes.count) != nil
        }) ?? value.utf8.contains(0) {
            throw DatabaseError(.parameter, detail: "text parameter contains a NUL byte")
        }
    }
}

/// What a conninfo string or URI names, as libpq reads it.
public struct ConnectionTarget: Sendable, Equatable {
    /// Each server, in order: a multi-host conninfo (`host=a,b port=1,2`, or `postgresql://a:1,b:2/db`)
    /// lists several. Empty host means libpq's default.
    public let servers: [(host: String, port: String)]
    /// `target_session_attrs` (`any` when absent).
    public let targetSessionAttrs: String

    public static func == (lhs: ConnectionTarget, rhs: ConnectionTarget) -> Bool {
        lhs.targetSessionAttrs == rhs.targetSessionAttrs && lhs.servers.map { "\($0.host):\($0.port)" } == rhs.servers.map { "\($0.host):\($0.port)" }
    }

    /// Parses `conninfo` with libpq (`PQconninfoParse`); nil when libpq cannot parse it.
    public init?(_ conninfo: String) {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            if let error { PQfreemem(error) }
            return nil
        }
        defer { PQconninfoFree(options) }
        self.init(values: Connection.values(of: options))
    }

    /// From libpq's keyword values (a parsed conninfo, or a connection's own: `PQconninfo`).
    init(values: [String: String]) {
        func list(_ key: String) -> [String] {
            values[key].map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        }
        let hosts = list("host"), addresses = list("hostaddr")
        let count = max(hosts.count, addresses.count, 1)
        var ports = list("port")
        // One port applies to every host; none means the default.
        if ports.count <= 1 { ports = Array(repeating: ports.first ?? "", count: count) }
        servers = (0..<min(count, ports.count)).map { i in
            (host: i < hosts.count && !hosts[i].isEmpty ? hosts[i] : (i < addresses.count ? addresses[i] : ""), port: ports[i])
        }
        hostList = hosts
        addressList = addresses
        targetSessionAttrs = values["target_session_attrs"] ?? "any"
    }

    /// The conninfo's `host` and `hostaddr` lists as given (either may be empty).
    private let hostList: [String]
    private let addressList: [String]

    /// A server's key, `host:port` (the host, else its address), with libpq's default port when
    /// none is named: what `Connection.server` gives.
    public static func key(host: String, port: String) -> String { "\(host):\(port.isEmpty ? "5432" : port)" }

    /// libpq keywords that make `conninfo` name its servers without those in `excluded`; none when
    /// nothing of it is excluded, or when every server would be (a connection somewhere beats none).
    public static func overrides(_ conninfo: String, excluding excluded: Set<String>) -> [(String, String)] {
        guard !excluded.isEmpty, let target = ConnectionTarget(conninfo) else { return [] }
        return target.overrides(excluding: excluded)
    }

    func overrides(excluding excluded: Set<String>) -> [(String, String)] {
        let kept = servers.indices.filter { !excluded.contains(ConnectionTarget.key(host: servers[$0].host, port: servers[$0].port)) }
        guard !kept.isEmpty, kept.count < servers.count else { return [] }
        func joined(_ list: [String]) -> String { kept.map { $0 < list.count ? list[$0] : "" }.joined(separator: ",") }
        return [("port", joined(servers.map(\.port)))]
            + (hostList.isEmpty ? [] : [("host", joined(hostList))])
            + (addressList.isEmpty ? [] : [("hostaddr", joined(addressList))])
    }

    /// Whether sessions should be on a standby when one answers.
    public var prefersStandby: Bool { ["prefer-standby", "standby", "read-only"].contains(targetSessionAttrs) }

    /// Whether a session that landed on the primary should move once a standby answers: standbys
    /// are preferred and the conninfo names more than one server.
    public static func movesToStandbys(_ conninfo: String) -> Bool {
        guard let target = ConnectionTarget(conninfo) else { return false }
        return target.prefersStandby && target.servers.count > 1
    }
}

/// Passes Swift strings to C as a NULL-terminated-string array for the duration of `body`.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}

/// Holds a connection's notice callback for libpq's C notice processor.
private final class NoticeSink {
    private let callback: @Sendable (String) -> Void

    init?(_ callback: (@Sendable (String) -> Void)?) {
        guard let callback else { return nil }
        self.callback = callback
    }

    func deliver(_ message: String) { callback(message) }
}
