// swift-tools-version:6.0
// kasparro: crypto market-data backend (ETL + FastCGI API) on Linux.
import PackageDescription

/// The same language settings for every Swift target.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "kasparro",
    // Linux only (Glibc, libfcgi, Synchronization's Mutex): no Apple platform is supported, so none is listed.
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

        // Small helpers every layer shares: blank trimming, JSON string escaping, strict environment settings.
        .target(name: "Support", swiftSettings: swiftSettings),
        // The request and response values: what FastCGI hands to the API, with no libpq behind it.
        .target(name: "HTTPMessage", swiftSettings: swiftSettings),
        // Pure Swift domain model: sources, records, validation, identity matching.
        .target(name: "MarketData", dependencies: ["Support"], swiftSettings: swiftSettings),
        // libpq wrapper, typed rows, migrations.
        .target(name: "Store", dependencies: ["CPostgreSQL", "Support"], swiftSettings: swiftSettings),
        // JSON logging and the pool-wide shared-memory metrics.
        .target(name: "Telemetry", dependencies: ["Support", .product(name: "Logging", package: "swift-log"),
                                                  .product(name: "Atomics", package: "swift-atomics")],
                swiftSettings: swiftSettings),
        // libcurl wrapper.
        .target(name: "HTTPClient", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        // Sources, pipeline, checkpoints.
        .target(name: "Ingestion", dependencies: ["MarketData", "Store", "HTTPClient", "Telemetry", "Support",
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Routing, handlers and JSON rendering: plain functions, no libfcgi.
        .target(name: "API", dependencies: ["HTTPMessage", "MarketData", "Store", "Telemetry", "Support",
                                            .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Accept loop, worker threads and signals over libfcgi.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "HTTPMessage",
                                                .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),

        .executableTarget(name: "FCGIApp", dependencies: [
            "FastCGI", "HTTPMessage", "API", "Telemetry", "Support",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "ETL", dependencies: [
            "Ingestion", "Store", "MarketData", "Support", "Telemetry",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),

        .testTarget(name: "MarketDataTests", dependencies: ["MarketData"], swiftSettings: swiftSettings),
        .testTarget(name: "APITests", dependencies: ["API", "HTTPMessage", "MarketData", "Store", "Support", "Telemetry"], swiftSettings: swiftSettings),
        .testTarget(name: "IngestionTests", dependencies: ["Ingestion", "MarketData", "Support"], swiftSettings: swiftSettings),
        .testTarget(name: "StoreTests", dependencies: ["Store"], swiftSettings: swiftSettings),
        .testTarget(name: "SupportTests", dependencies: ["Support"], swiftSettings: swiftSettings),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (`make fuzz`, Tests/fuzz/): only with KASPARRO_FUZZ=1, built apart from the product
// (scratch path .build-fuzz) with `-sanitize=fuzzer,address` and `-parse-as-library`, which must
// not reach the executables' main.swift; libFuzzer supplies main.
if Context.environment["KASPARRO_FUZZ"] == "1" {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("json", ["MarketData"]), ("csv-reader", ["Ingestion"]), ("csv-row", ["MarketData"]),
        ("timestamp", ["MarketData"]), ("decimal", ["MarketData"]), ("query", ["API"]),
        ("cursor", ["API", "MarketData"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(.executableTarget(name: "fuzz-\(name)", dependencies: dependencies,
                                                 path: "Tests/fuzz/Targets/\(name)", swiftSettings: swiftSettings))
    }
}
