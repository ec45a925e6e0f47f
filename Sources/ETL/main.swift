// kasparro-etl: migrate the schema, run the sources, show their status.
import ArgumentParser
import Foundation
import Ingestion
import Logging
import MarketData
import Store
import Support
import Telemetry

extension Source: ExpressibleByArgument {}

struct KasparroETL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kasparro-etl",
        abstract: "Collects crypto market data into PostgreSQL.",
        discussion: """
        Settings come from the environment (DATABASE_URL, CSV_SOURCE_DIR, ...; see .env.example).
        Exit status of `run`: 0 every source succeeded, 2 some source failed (the others' data is
        committed), 1 database or configuration unusable, 75 another ETL invocation is running.
        """,
        version: kasparroVersion,
        subcommands: [Migrate.self, Run.self, Status.self, Raw.self, RetentionCommand.self, Assets.self])
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations, each in one transaction.")

    @Option(help: "Stop after this version (default: the newest).")
    var to: Int?

    func run() throws {
        let (logger, connection) = try openDatabase()
        var migrator = Migrator(connection: connection)
        migrator.onLockTimeout = { version, pause in
            logger.warning("migration waits for its locks: a long transaction holds them; readers go on meanwhile",
                           metadata: ["version": "\(version)", "retry_in_s": "\(pause)"])
        }
        let applied: [Int]
        do {
            applied = try migrator.migrate(Migrations.all.filter { $0.version <= (to ?? Int.max) })
        } catch let error as DatabaseError {
            logger.error("migration failed; its transaction rolled back", metadata: [
                "error": "\(error.debugDescription)", "version": "\((try? migrator.currentVersion()).map { $0 + 1 } ?? 0)"])
            throw ExitCode(Pipeline.exitFatal)
        }
        let version = try migrator.currentVersion()
        logger.info("migrations applied", metadata: ["applied": "\(applied)", "version": "\(version)"])
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetch, validate and store new records from the sources.")

    @Option(name: .customLong("source"), help: "A source to run (\(Source.allNames)); repeat for several. Default: all. Sources always run in the order csv, coinpaprika, coingecko.")
    var sources: [Source] = []

    @Option(help: "Abort each source's run after N records (failure injection; also ETL_FAIL_AFTER_N_RECORDS).")
    var failAfter: Int?

    func validate() throws {
        if let failAfter, failAfter < 0 { throw ValidationError("--fail-after must be ≥ 0") }
    }

    func run() throws {
        let logger = try bootstrapLogging()
        var config = try loadConfig()
        if let failAfter { config.failAfter = failAfter }
        let pipeline: Pipeline
        do {
            pipeline = try Pipeline(config: config, logger: logger)
            try requireCurrentSchema(pipeline.database, logger)
            guard try pipeline.lock() else {
                logger.warning("another ETL invocation is running; nothing done")
                throw ExitCode(Pipeline.exitBusy)
            }
        } catch let error as DatabaseError {
            logger.error("database unavailable", metadata: ["error": "\(error.debugDescription)"])
            throw ExitCode(Pipeline.exitFatal)
        }
        // Always the same order (the CSV archive first, then the APIs), so identity matching and
        // canonical asset names do not depend on how the command was typed.
        let order: [Source] = [.csv, .coinpaprika, .coingecko]
        let chosen = sources.isEmpty ? order : order.filter(sources.contains)
        let outcomes = pipeline.run(sources: chosen)
        // Under systemd stdout is the journal, where every line is JSON: the "source run finished"
        // log line already says all this, so the human summary is for terminals and pipes only.
        let summaries = !standardOutputIsJournal()
        for outcome in outcomes where summaries {
            let counts = outcome.counts
            print("\(outcome.source.rawValue): \(outcome.status.rawValue) run \(outcome.runID) — fetched \(counts.fetched), "
                  + "inserted \(counts.inserted), updated \(counts.updated), unchanged \(counts.unchanged), "
                  + "quarantined \(counts.quarantined) in \(String(format: "%.2f", outcome.seconds)) s"
                  + (outcome.error.map { " — error: \($0)" } ?? "")
                  + (outcome.status == .succeeded && counts.inserted + counts.updated == 0 ? " — nothing new" : ""))
        }
        guard pipeline.holdsLock, (try? pipeline.ensureSession()) != false else {
            logger.error("this invocation lost its lock to another one; retention and the remaining sources are left to it")
            throw ExitCode(Pipeline.exitBusy)
        }
        var retentionFailed = false
        if config.retention.isActive {
            do {
                try Retention(connection: pipeline.database, logger: logger, policy: config.retention).apply(now: Timestamp.now())
            } catch {
                logger.error("retention failed", metadata: ["error": "\(String(reflecting: error))"])
                retentionFailed = true
            }
        }
        do {
            let vacuumed = try ClosedPartitions(connection: pipeline.database).vacuum(now: Timestamp.now())
            if !vacuumed.isEmpty {
                logger.info("closed partitions vacuumed", metadata: ["partitions": "\(vacuumed.joined(separator: ","))"])
            }
        } catch {
            // The data is written; a month left for autovacuum is slower to count, not wrong.
            logger.warning("vacuum of closed partitions failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        if retentionFailed || outcomes.contains(where: { $0.status == .failed }) { throw ExitCode(Pipeline.exitPartial) }
    }
}

struct Raw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the raw payload a record came from, byte for byte.",
        discussion: """
        For coinpaprika and coingecko, ID is the source's id (btc-bitcoin, bitcoin): prints the
        record's JSON exactly as the API sent it. For csv, ID is FILE:LINE (coin_Bitcoin.csv:2,
        the header being line 1): prints that line as read.
        """)

    @Argument(help: "coinpaprika, coingecko or csv.")
    var source: Source

    @Argument(help: "The record's id at its source, or FILE:LINE for csv.")
    var id: String

    @Option(help: "Which observation (RFC 3339); default the newest.")
    var observedAt: String?

    func run() throws {
        let (logger, connection) = try openDatabase()
        let lookup = RawLookup(connection: connection)
        let bytes: [UInt8]
        do {
            switch source {
            case .csv:
                guard let colon = id.lastIndex(of: ":"), let line = Int64(id[id.index(after: colon)...]), line >= 1 else {
                    throw ValidationError("for csv, ID is FILE:LINE (coin_Bitcoin.csv:2)")
                }
                bytes = try lookup.csvLine(stream: String(id[..<colon]), line: line)
            default:
                var at: Timestamp?
                if let observedAt {
                    guard let parsed = Timestamp.parseFilter(observedAt) else { throw ValidationError("--observed-at must be RFC 3339") }
                    at = parsed
                }
                bytes = try lookup.apiRecord(source: source, id: id, observedAt: at)
            }
        } catch let error as RawLookup.NotFound {
            FileHandle.standardError.write(Data("kasparro-etl: \(error)\n".utf8))
            throw ExitCode(3)
        } catch let error as DatabaseError {
            logger.error("database error", metadata: ["error": "\(error.debugDescription)"])
            throw ExitCode(Pipeline.exitFatal)
        }
        FileHandle.standardOutput.write(Data(bytes))
    }
}

struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Drop the partitions older than RETENTION_MARKET_MONTHS / RETENTION_RAW_MONTHS (also done after every run).")

    @Flag(help: "Only list what would be dropped.")
    var dryRun = false

    func run() throws {
        let (logger, connection) = try openDatabase()
        try requireCurrentSchema(connection, logger)
        let config = try loadConfig()
        guard config.retention.isActive else {
            print("retention: nothing to do (RETENTION_MARKET_MONTHS is not set: every record is kept)")
            return
        }
        // A run still holding a dropped month in its partition cache would fail its next batch.
        if !dryRun {
            guard try InvocationLock.take(connection) else {
                logger.warning("an ETL run is in progress (it applies retention when it ends); nothing dropped")
                throw ExitCode(Pipeline.exitBusy)
            }
        }
        defer { if !dryRun { InvocationLock.release(connection) } }
        let dropped = try Retention(connection: connection, logger: logger, policy: config.retention)
            .apply(now: Timestamp.now(), dryRun: dryRun)
        for item in dropped where !standardOutputIsJournal() {
            print("\(dryRun ? "would drop" : "dropped") \(item.table) partition \(item.partition) [\(item.from), \(item.to))"
                  + (item.rows.map { " — \($0) records" } ?? ""))
        }
        if dropped.isEmpty && !standardOutputIsJournal() { print("retention: nothing older than the settings keep") }
    }
}

struct Assets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Canonical assets: what is uncertain, and the operator's merges and splits.",
        discussion: """
        A merge or split moves the affected market records in one transaction, is recorded with
        when, who (--operator, an audit hint) and why (--reason, required), and is never undone by
        a later run. Exit status: 0 done, 1 refused (nothing changed), 75 an ETL run is in progress.
        """,
        subcommands: [AssetsList.self, AssetsShow.self, AssetsMerge.self, AssetsSplit.self, AssetsOverrides.self])
}

/// The operator's login name: the default for --operator.
private func loginName() -> String {
    ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"]
        ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? String(cString: getlogin() ?? strdup("unknown"))
}

/// Runs an operator's command; a refusal is one line on stderr and exit 1, a busy ETL exit 75.
private func administer(_ body: (AssetAdmin) throws -> Void) throws {
    let (logger, connection) = try openDatabase()
    try requireCurrentSchema(connection, logger)
    do {
        try body(AssetAdmin(connection: connection, logger: logger))
    } catch let error as AssetAdminError {
        FileHandle.standardError.write(Data("kasparro-etl assets: \(error.description)\n".utf8))
        throw ExitCode(error.description.hasPrefix("an ETL run is in progress") ? 75 : 1)
    }
}

struct AssetsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Show matches below a confidence and near misses that were not merged, with their evidence.")

    @Flag(help: "Only what is uncertain (the only listing so far).")
    var uncertain = false

    @Option(help: "Matches below this confidence are listed.")
    var below: Double = 0.9

    func run() throws {
        try administer { admin in
            let lines = try admin.uncertain(threshold: below)
            print(lines.isEmpty ? "nothing uncertain" : lines.joined(separator: "\n"))
        }
    }
}

struct AssetsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "One asset's mappings, each with its method, confidence, supply and evidence.")

    @Argument(help: "The asset id (an alias shows the asset it was merged into).") var asset: Int64

    func run() throws {
        try administer { admin in print(try admin.show(asset).joined(separator: "\n")) }
    }
}

/// Who decided an override and why: the options every merge and split takes.
struct OverrideOptions: ParsableArguments {
    @Option(help: "Who decided (default: your login name).") var `operator`: String?
    @Option(help: "Why (required).") var reason: String

    /// The operator named, else the invoking login name.
    var who: String { `operator` ?? loginName() }
}

struct AssetsMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge asset OTHER into KEEP: its mappings and records move; OTHER stays an alias of KEEP.")

    @Argument(help: "The asset to keep.") var keep: Int64
    @Argument(help: "The asset merged into it.") var other: Int64
    @OptionGroup var override: OverrideOptions

    func run() throws {
        try administer { admin in
            let done = try admin.merge(keep: keep, other: other, operator: override.who, reason: override.reason)
            print("override #\(done.overrideID): asset \(other) merged into \(keep), \(done.rowsMoved) records moved")
        }
    }
}

struct AssetsSplit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split", abstract: "Move one source coin's mapping and records to a new asset of its own.")

    @Argument(help: "The source (\(Source.allNames)).") var source: Source
    @Argument(help: "The coin's id at that source.") var sourceID: String
    @OptionGroup var override: OverrideOptions

    func run() throws {
        try administer { admin in
            let done = try admin.split(source: source, sourceID: sourceID, operator: override.who, reason: override.reason)
            print("override #\(done.overrideID): \(source.rawValue) \(sourceID) split from asset \(done.otherID) "
                  + "to new asset \(done.assetID), \(done.rowsMoved) records moved")
        }
    }
}

struct AssetsOverrides: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "overrides", abstract: "Every merge and split, with when, who and why.")

    func run() throws {
        try administer { admin in
            let lines = try admin.overrides()
            print(lines.isEmpty ? "no overrides" : lines.joined(separator: "\n"))
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each source's last run, checkpoint and quarantine count.")

    func run() throws {
        let (_, connection) = try openDatabase()
        print(try StatusReport(connection: connection).render())
    }
}

/// Whether stdout is connected to journald: systemd names that stream in `JOURNAL_STREAM`
/// (`device:inode`), which must match stdout's own (a child may inherit the variable but not the stream).
private func standardOutputIsJournal() -> Bool {
    guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
    var info = stat()
    guard fstat(1, &info) == 0 else { return false }
    return stream == "\(info.st_dev):\(info.st_ino)"
}

private func bootstrapLogging() throws -> Logger {
    do {
        try JSONLogHandler.bootstrap()
    } catch {
        FileHandle.standardError.write(Data("kasparro-etl: \(error)\n".utf8))
        throw ExitCode(Pipeline.exitFatal)
    }
    return Logger(label: "kasparro-etl")
}

private func loadConfig() throws -> ETLConfig {
    do {
        return try ETLConfig()
    } catch {
        FileHandle.standardError.write(Data("kasparro-etl: \(error)\n".utf8))
        throw ExitCode(Pipeline.exitFatal)
    }
}

/// Logging, settings and a connection with the ETL's role: what `migrate` and `status` start with.
private func openDatabase() throws -> (Logger, Connection) {
    let logger = try bootstrapLogging()
    let config = try loadConfig()
    do {
        return (logger, try Connection(conninfo: config.databaseURL, applicationName: "kasparro-etl", overrides: ETLConnection.overrides, onNotice: logger.databaseNotices))
    } catch {
        logger.error("database unavailable", metadata: ["error": "\(error.debugDescription)"])
        throw ExitCode(Pipeline.exitFatal)
    }
}

/// Refuses to write to a database whose schema is behind this binary (its writers call what the
/// newest migration made): during an upgrade the timer's run can come before `migrate` has.
private func requireCurrentSchema(_ connection: Connection, _ logger: Logger) throws {
    let found = try Migrator(connection: connection).currentVersion()
    guard found < Migrations.latest else { return }
    logger.error("the database schema is behind this kasparro-etl: run `kasparro-etl migrate` first; nothing done",
                 metadata: ["schema_version": "\(found)", "needed_version": "\(Migrations.latest)"])
    throw ExitCode(Pipeline.exitFatal)
}

KasparroETL.main()
