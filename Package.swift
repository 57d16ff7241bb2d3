// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Muster",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Muster", targets: ["Muster"]),
        .executable(name: "muster", targets: ["muster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.3.0"),
        // The HTTP server of `muster metrics` and `muster dashboard`: plain sockets and Swift
        // concurrency, no SwiftNIO (a cold build here: 14 s, Hummingbird's: 108 s).
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.0"),
        // Exports a process's own swift-metrics (`--metrics-listen`): the CLI's, not the library's.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // libpq, from Debian's libpq-dev; the shim re-exports the char-literal macros Swift cannot import.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // The PostgreSQL layer: connections on their own threads, pool, listener, errors. `package` access.
        .target(
            name: "MusterPostgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The public library: client, migrations, queues, workers, barriers, executions.
        .target(
            name: "Muster",
            dependencies: [
                "MusterPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            plugins: ["EmbedMigrationsPlugin"]
        ),
        // Seeing it run over HTTP: the Prometheus exporter of database-side metrics and the
        // dashboard. Kept out of the library so an application that never serves them does
        // not build an HTTP server.
        .target(
            name: "MusterWeb",
            dependencies: [
                "Muster",
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The command-line tool.
        .executableTarget(
            name: "muster",
            dependencies: [
                "Muster",
                "MusterPostgres",
                "MusterWeb",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The library example quoted in the README; building it proves the README's code compiles.
        .executableTarget(
            name: "muster-example",
            dependencies: [
                "Muster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/MusterExample"
        ),
        // Build-time generator: turns migrations/*.sql into a Swift source so the binary carries them.
        .executableTarget(name: "MigrationEmbedder"),
        .plugin(
            name: "EmbedMigrationsPlugin",
            capability: .buildTool(),
            dependencies: ["MigrationEmbedder"]
        ),
        .testTarget(
            name: "MusterTests",
            dependencies: ["Muster", "MusterPostgres", "MusterWeb"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Muster", "MusterPostgres", "MusterWeb",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            path: "IntegrationTests"
        ),
    ]
)

// One strict setting set for every target.
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
}
