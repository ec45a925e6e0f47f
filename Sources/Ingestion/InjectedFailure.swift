// Failure injection: `--fail-after N` stops a run on purpose, for tests and demonstrations.

/// `--fail-after N` / `ETL_FAIL_AFTER_N_RECORDS` stopped the run on purpose.
public struct InjectedFailure: Error, CustomStringConvertible {
    /// The configured record count.
    public let after: Int
    /// Explains the failure in the run record.
    public var description: String { "injected failure after \(after) records (--fail-after / ETL_FAIL_AFTER_N_RECORDS)" }
}
