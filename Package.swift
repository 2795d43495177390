// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-tooz",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Tooz", targets: ["Tooz"]),
        .library(name: "ToozLocal", targets: ["ToozLocal"]),
        .library(name: "ToozBackends", targets: ["ToozBackends"]),
        .library(name: "ToozRedis", targets: ["ToozRedis"]),
        .library(name: "ToozZooKeeper", targets: ["ToozZooKeeper"]),
        .library(name: "ToozMemcached", targets: ["ToozMemcached"]),
        .library(name: "ToozEtcd", targets: ["ToozEtcd"]),
        .library(name: "ToozPostgres", targets: ["ToozPostgres"]),
        .library(name: "ToozMySQL", targets: ["ToozMySQL"]),
        .executable(name: "tooz", targets: ["ToozCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // The core: Coordinator, leases, events, partitioner, codecs, the backend protocol
        // and the in-memory backend. Depends on nothing heavier than logging and metrics.
        .target(
            name: "Tooz",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Host-local backends: file:// (tooz's file layout) and ipc:// (System V).
        .target(
            name: "ToozLocal",
            dependencies: ["Tooz"],
            swiftSettings: strictSettings
        ),
        // What every SwiftNIO backend shares: the event loop as a task executor.
        .target(
            name: "ToozNIO",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        // The redis:// backend: a RESP2/RESP3 client over SwiftNIO.
        .target(
            name: "ToozRedis",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // The zookeeper:// backend: a ZooKeeper client (jute records, sessions) over SwiftNIO.
        .target(
            name: "ToozZooKeeper",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The memcached:// backend: a meta-protocol memcached client over SwiftNIO.
        .target(
            name: "ToozMemcached",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // The etcd3+http:// backend: a gRPC client of our own on swift-nio-http2 with etcd's
        // protobuf messages (generated, committed; scripts/generate-etcd-protos).
        .target(
            name: "ToozEtcd",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        // The postgresql:// backend on postgres-nio: advisory locks on kept connections,
        // groups in tables of our own, LISTEN/NOTIFY for events.
        .target(
            name: "ToozPostgres",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The mysql:// backend: a MySQL/MariaDB wire-protocol client of our own over SwiftNIO,
        // GET_LOCK locks on kept sessions, groups in InnoDB tables of our own.
        .target(
            name: "ToozMySQL",
            dependencies: [
                "Tooz",
                "ToozNIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Maps URL schemes to backends: the one-line entry point for apps and the CLI.
        .target(
            name: "ToozBackends",
            dependencies: ["Tooz", "ToozLocal", "ToozRedis", "ToozZooKeeper", "ToozMemcached", "ToozEtcd", "ToozPostgres", "ToozMySQL"],
            swiftSettings: strictSettings
        ),
        // The few C calls the CLI needs that Swift cannot make (prctl is variadic).
        .target(name: "CToozPlatform"),
        .executableTarget(
            name: "ToozCLI",
            dependencies: [
                "ToozBackends",
                "CToozPlatform",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozTests",
            dependencies: [
                "Tooz",
                "ToozTestKit",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozRedisTests",
            dependencies: [
                "ToozRedis",
                "ToozBackends",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // What every test suite shares: eventually, withDeadline, event logs, backend wrappers.
        .target(name: "ToozTestKit", dependencies: ["Tooz"], path: "Tests/ToozTestKit", swiftSettings: strictSettings),
        // Throwaway servers for the server tests: spawn, reap, pid files for scripts/test.
        .target(
            name: "ToozServerTestSupport",
            dependencies: [
                "ToozRedis", "ToozZooKeeper", "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ToozServerTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozMemcachedTests",
            dependencies: [
                "ToozMemcached",
                "ToozBackends",
                "ToozNIO",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozEtcdTests",
            dependencies: [
                "ToozEtcd",
                "ToozBackends",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozPostgresTests",
            dependencies: [
                "ToozPostgres",
                "ToozBackends",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozMySQLTests",
            dependencies: [
                "ToozMySQL",
                "ToozBackends",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozZooKeeperTests",
            dependencies: [
                "ToozZooKeeper",
                "ToozBackends",
                "ToozServerTestSupport",
                "ToozTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozLocalTests", dependencies: ["ToozLocal", "ToozBackends", "ToozTestKit"], swiftSettings: strictSettings
        ),
        .testTarget(name: "ToozConformanceTests", dependencies: ["ToozBackends", "ToozTestKit"], swiftSettings: strictSettings),
        .testTarget(
            name: "ToozInteropTests",
            dependencies: [
                "ToozBackends", "ToozRedis", "ToozZooKeeper", "ToozTestKit", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ToozCLITests",
            dependencies: [
                "ToozBackends", "ToozCLI", "ToozServerTestSupport", "ToozTestKit",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
