// The ordered list of schema migrations: one file per migration beside this one.

/// One schema change.
public struct Migration: Sendable {
    /// Strictly increasing version number.
    public let version: Int
    /// Short name, recorded in `schema_migrations`.
    public let name: String
    /// The SQL, run in one transaction.
    public let sql: String
}

/// The project's migrations, oldest first.
///
/// A released migration never changes (`MigrationChecksumTests` holds each one's bytes): a change
/// is a new version. While a responder of the previous release may still run, a migration only
/// expands the schema (adds; never drops, renames or narrows what that release reads).
public enum Migrations {
    /// Every migration in order.
    public static let all: [Migration] = [
        v001, v002, v003, v004, v005, v006, v007, v008, v009, v010, v011, v012, v013, v014, v015, v016, v017, v018,
        v019,
    ]

    /// The newest version: what this binary's responders need the database to have.
    public static var latest: Int { all.last!.version }
}
