// The counters of one source run, as its etl_runs row records them.

/// Counters of one source run, mirrored into its `etl_runs` row.
public struct RunCounts: Sendable, Equatable {
    /// Source records read.
    public var fetched = 0
    /// New market rows.
    public var inserted = 0
    /// Existing market rows whose values changed.
    public var updated = 0
    /// Records identical to what was stored.
    public var unchanged = 0
    /// Records sent to quarantine.
    public var quarantined = 0
}
