// Settings read from the environment strictly: a bad value stops the program with its name and what is allowed.

/// A setting in the environment has a value the program cannot use.
public struct SettingError: Error, CustomStringConvertible, Sendable {
    /// Which variable, what it holds and what is allowed.
    public let description: String

    /// Creates an error with its full text.
    public init(_ description: String) { self.description = description }
}

/// Typed readers for environment variables: unset or empty means the default, anything else must
/// parse and lie in range, or the reader throws naming the variable.
public struct EnvironmentSettings: Sendable {
    private let values: [String: String]

    /// Reads from `values` (the process environment in production, a dictionary in tests).
    public init(_ values: [String: String]) { self.values = values }

    /// The raw value, nil when unset or empty.
    public subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// A whole number in `range`.
    public func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(SettingError) -> Int {
        try optionalInteger(name, in: range) ?? value
    }

    /// A whole number in `range`, or nil when unset.
    public func optionalInteger(_ name: String, in range: ClosedRange<Int>) throws(SettingError) -> Int? {
        guard let text = self[name] else { return nil }
        guard let parsed = Int(text), range.contains(parsed) else {
            let allowed = range.upperBound == Int.max ? "≥ \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            throw SettingError("\(name) must be a whole number \(allowed), got \(text.debugDescription)")
        }
        return parsed
    }

    /// A decimal number in `range`.
    public func number(_ name: String, default value: Double, in range: ClosedRange<Double>) throws(SettingError) -> Double {
        guard let text = self[name] else { return value }
        guard let parsed = Double(text), parsed.isFinite, range.contains(parsed) else {
            throw SettingError("\(name) must be a number from \(range.lowerBound) to \(range.upperBound), got \(text.debugDescription)")
        }
        return parsed
    }

    /// One of a fixed set of words.
    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, default value: T) throws(SettingError) -> T
        where T.RawValue == String {
        guard let text = self[name] else { return value }
        guard let parsed = T(rawValue: text.lowercased()) else {
            throw SettingError("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \(text.debugDescription)")
        }
        return parsed
    }
}
