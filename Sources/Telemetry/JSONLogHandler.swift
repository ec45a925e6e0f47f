// swift-log handler writing one JSON object per line to stderr (journald / .run/log in dev).
import Foundation
import Logging
import Support

/// Writes each log event as one line of JSON: `time`, `level`, `message`, `logger`, then metadata.
public struct JSONLogHandler: LogHandler {
    /// Metadata attached to every event of this logger.
    public var metadata: Logger.Metadata = [:]
    /// The minimum level written.
    public var logLevel: Logger.Level
    private let label: String

    /// Creates a handler for `label` at `level`.
    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    /// Installs the handler for the whole process at the level `LOG_LEVEL` names (default `info`);
    /// an unknown level is an error naming the variable, not a silent default.
    public static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingError) {
        let level = try level(EnvironmentSettings(environment))
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
    }

    /// The level `LOG_LEVEL` names: swift-log's names (`debug`, `info`, `warning`, `error`, …), or `warn`.
    public static func level(_ settings: EnvironmentSettings) throws(SettingError) -> Logger.Level {
        if settings["LOG_LEVEL"]?.lowercased() == "warn" { return .warning }
        return try settings.choice("LOG_LEVEL", default: .info)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "{\"time\":\"\(Self.now())\",\"level\":\"\(event.level.rawValue)\",\"logger\":"
        line += jsonString(label)
        line += ",\"message\":" + jsonString(event.message.description)
        for key in fields.keys.sorted() where !["time", "level", "logger", "message"].contains(key) {
            line += "," + jsonString(key) + ":" + jsonValue(fields[key]!)
        }
        line += "}\n"
        // One write(2) per line, so lines from several threads never interleave.
        line.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }

    /// The current UTC time as `2026-11-23T12:26:55.057Z` (hand-formatted: this runs per line).
    private static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = time_t(spec.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int, _ at: Int, _ width: Int) {
            var v = value
            for i in stride(from: at + width - 1, through: at, by: -1) {
                bytes[i] = UInt8(48 + v % 10)
                v /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, 0, 4); bytes[4] = 45
        put(Int(parts.tm_mon) + 1, 5, 2); bytes[7] = 45
        put(Int(parts.tm_mday), 8, 2); bytes[10] = 84
        put(Int(parts.tm_hour), 11, 2); bytes[13] = 58
        put(Int(parts.tm_min), 14, 2); bytes[16] = 58
        put(Int(parts.tm_sec), 17, 2); bytes[19] = 46
        put(Int(spec.tv_nsec / 1_000_000), 20, 3); bytes[23] = 90
        return String(decoding: bytes, as: UTF8.self)
    }

    private func jsonValue(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return jsonString(text)
        case .stringConvertible(let item):
            if let number = item as? any BinaryInteger { return "\(number)" }
            if let number = item as? Double, number.isFinite { return "\(number)" }
            if let flag = item as? Bool { return flag ? "true" : "false" }
            return jsonString(item.description)
        case .array(let items): return "[" + items.map(jsonValue).joined(separator: ",") + "]"
        case .dictionary(let items):
            return "{" + items.keys.sorted().map { jsonString($0) + ":" + jsonValue(items[$0]!) }.joined(separator: ",") + "}"
        }
    }
}

extension Logger {
    /// A sink for PostgreSQL's notices (`Connection(onNotice:)`): each one becomes a JSON log line
    /// instead of the raw text libpq would print on stderr.
    public var databaseNotices: @Sendable (String) -> Void {
        { [self] message in notice("database notice", metadata: ["notice": "\(message)"]) }
    }
}
