// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for the wire decoders, kept out of the main package so that its
// `swift build` and `swift test` never build them. scripts/fuzz builds and runs them.
//
// The decoders are `package`-visible only; the targets reach them with `@testable import`,
// which works because debug builds compile every module with testing enabled. Build them in
// debug with the sanitizer flags scripts/fuzz passes (it says why they are spelt out twice).

let fuzzSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // No `main`: libFuzzer's own `main` drives `LLVMFuzzerTestOneInput`.
    .unsafeFlags(["-parse-as-library"]),
]

let package = Package(
    name: "swift-tooz-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-tooz", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzRESP",
            dependencies: [
                .product(name: "ToozRedis", package: "swift-tooz"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzJute",
            dependencies: [
                .product(name: "Tooz", package: "swift-tooz"),
                .product(name: "ToozZooKeeper", package: "swift-tooz"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzMemcached",
            dependencies: [
                .product(name: "ToozMemcached", package: "swift-tooz"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzMsgPack",
            dependencies: [.product(name: "Tooz", package: "swift-tooz")],
            swiftSettings: fuzzSettings
        ),
    ]
)
