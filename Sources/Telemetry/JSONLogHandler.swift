// swift-log handler writing one JSON object per line to stderr (journald / .run/log in dev).
import Foundation
import Logging

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

    /// Installs the handler for the whole process, reading the level from `LOG_LEVEL` (default `info`).
    public static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let level = environment["LOG_LEVEL"].flatMap(parseLevel) ?? .info
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
    }

    /// Maps `debug`, `info`, `warning`, `error` (and swift-log's other names) to a level.
    public static func parseLevel(_ text: String) -> Logger.Level? {
        switch text.lowercased() {
        case "warn": return .warning
        default: return Logger.Level(rawValue: text.lowercased())
        }
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
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = time_t(spec.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec),
                      Int(spec.tv_nsec / 1_000_000))
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

/// A JSON string literal for `text`, escaping quotes, backslashes and control characters.
public func jsonString(_ text: String) -> String {
    // Fast path: printable ASCII without quote or backslash needs no escaping.
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
        return "\"" + text + "\""
    }
    var out = "\""
    out.reserveCapacity(text.utf8.count + 2)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
