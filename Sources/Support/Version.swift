// The product's version: shown by `--version`, `GET /` and the Debian package.

/// kasparro's release version (semantic versioning).
public let kasparroVersion = "1.9.0"
