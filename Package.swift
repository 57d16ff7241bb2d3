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
            ],
            plugins: ["EmbedMigrationsPlugin"]
        ),
        // The command-line tool.
        .executableTarget(
            name: "muster",
            dependencies: [
                "Muster",
                "MusterPostgres",
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
            dependencies: ["Muster", "MusterPostgres"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Muster", "MusterPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
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
