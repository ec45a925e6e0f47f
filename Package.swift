// swift-tools-version:6.0
// kasparro: crypto market-data backend (ETL + FastCGI API) on Linux.
import PackageDescription

/// The same language settings for every Swift target.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "kasparro",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kasparro-api", targets: ["FCGIApp"]),
        .executable(name: "kasparro-etl", targets: ["ETL"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
    ],
    targets: [
        // C bridges: each C library is imported by exactly one Swift module.
        .systemLibrary(name: "CFastCGI", pkgConfig: nil, providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CPostgreSQL", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),

        // Pure Swift domain model: sources, records, validation, identity matching.
        .target(name: "MarketData", swiftSettings: swiftSettings),
        // libpq wrapper, migrations and queries shared by both binaries.
        .target(name: "Store", dependencies: ["CPostgreSQL", "MarketData",
                                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // JSON logging and the pool-wide shared-memory metrics.
        .target(name: "Telemetry", dependencies: [.product(name: "Logging", package: "swift-log"),
                                                  .product(name: "Atomics", package: "swift-atomics")],
                swiftSettings: swiftSettings),
        // libcurl wrapper.
        .target(name: "HTTPClient", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        // Sources, pipeline, checkpoints.
        .target(name: "Ingestion", dependencies: ["MarketData", "Store", "HTTPClient", "Telemetry",
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Routing, handlers and JSON rendering: plain functions, no libfcgi.
        .target(name: "API", dependencies: ["MarketData", "Store", "Telemetry",
                                            .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Accept loop, worker threads and signals over libfcgi.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "API",
                                                .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),

        .executableTarget(name: "FCGIApp", dependencies: [
            "FastCGI", "API", "Store", "Telemetry",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "ETL", dependencies: [
            "Ingestion", "Store", "MarketData", "Telemetry",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),

        .testTarget(name: "MarketDataTests", dependencies: ["MarketData"], swiftSettings: swiftSettings),
        .testTarget(name: "APITests", dependencies: ["API", "MarketData", "Store", "Telemetry"], swiftSettings: swiftSettings),
        .testTarget(name: "IngestionTests", dependencies: ["Ingestion", "MarketData"], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
