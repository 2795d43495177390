import Foundation
import Testing

@testable import ToozCLI

/// A server that scripts/test started and named in an environment variable
/// (`TOOZ_TEST_REDIS_URL`, `TOOZ_TEST_ZOOKEEPER_URL`, `TOOZ_TEST_MEMCACHED_URL`, `TOOZ_TEST_ETCD_URL`,
/// `TOOZ_TEST_POSTGRES_URL`, `TOOZ_TEST_MYSQL_URL`). Tests on it
/// run when it is set, and always under `CI=true`, where a missing server must fail rather
/// than skip.
struct ServerURL: Sendable {
    static let redis = ServerURL(variable: "TOOZ_TEST_REDIS_URL", server: "redis-server", prefix: "cli-redis")
    static let zooKeeper = ServerURL(variable: "TOOZ_TEST_ZOOKEEPER_URL", server: "ZooKeeper", prefix: "cli-zk")
    static let memcached = ServerURL(variable: "TOOZ_TEST_MEMCACHED_URL", server: "memcached", prefix: "cli-mc")
    static let etcd = ServerURL(variable: "TOOZ_TEST_ETCD_URL", server: "etcd", prefix: "cli-etcd")
    static let postgres = ServerURL(variable: "TOOZ_TEST_POSTGRES_URL", server: "PostgreSQL", prefix: "cli-pg")
    static let mysql = ServerURL(variable: "TOOZ_TEST_MYSQL_URL", server: "MariaDB", prefix: "cli-my")

    static let isCI = ["true", "1", "yes"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "")

    let variable: String
    let server: String
    /// Starts every lock name, so that tests on a shared server never collide.
    let prefix: String

    var value: String? { ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 } }
    var shouldRun: Bool { value != nil || Self.isCI }
    var skipReason: Comment { "\(variable) is not set: run scripts/test" }

    /// The URL with `options` appended; fails the test when the variable is unset.
    func require(_ options: String) throws -> String {
        let base = try #require(value, "CI=true but \(variable) is not set: scripts/test could not start \(server)")
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// A lock name no other test or run uses.
    func uniqueName(_ base: String) -> String {
        "\(prefix)-\(base)-\(Platform.processID)-\(UInt32.random(in: 0...UInt32.max))"
    }
}
