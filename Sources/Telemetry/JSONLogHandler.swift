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
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
