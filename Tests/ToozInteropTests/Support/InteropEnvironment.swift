import Foundation
import Testing

/// Where the Python side of the interop tests comes from, and whether they can run.
///
/// `scripts/test` makes a virtual environment with Python tooz 9.1.0 and exports its interpreter
/// as `TOOZ_PYTHON`. Without it the tests show as skipped on a developer's machine, and fail
/// under `CI=true`, where a missing Python side must never pass silently.
enum InteropEnvironment {
    static let variables = ProcessInfo.processInfo.environment

    /// The venv's interpreter, from `TOOZ_PYTHON`.
    static let python: String? = variables["TOOZ_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }

    static let isCI: Bool = ["true", "1", "yes"].contains(variables["CI"]?.lowercased() ?? "")

    /// Run when the Python side is there, and always under CI (where its absence is a failure).
    static let shouldRun: Bool = python != nil || isCI

    static let notConfigured =
        "TOOZ_PYTHON is not set: run scripts/test, which makes the Python tooz 9.1.0 venv and exports it"

    /// The redis-server the Redis interop tests share, from `TOOZ_TEST_REDIS_URL`
    /// (`redis://127.0.0.1:PORT`, which scripts/test exports after starting one on loopback).
    static let redisURL: String? = variables["TOOZ_TEST_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the Redis interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunRedis: Bool = redisURL != nil || isCI

    static let redisNotConfigured =
        "TOOZ_TEST_REDIS_URL is not set: run scripts/test, which starts a redis-server on loopback and exports its URL"

    /// The Redis URL with `options` (`"timeout=5&lock_timeout=2"`) appended, or a failure that
    /// explains how to get a server (reached only under CI).
    static func requireRedisURL(_ options: String = "") throws -> String {
        guard let base = redisURL else {
            throw InteropSetupError(
                "\(redisNotConfigured). CI=true, so the Redis interop tests fail instead of being skipped; scripts/test's output says why redis-server did not start."
            )
        }
        guard base.hasPrefix("redis://") else {
            throw InteropSetupError("TOOZ_TEST_REDIS_URL=\(base) is not a redis:// URL")
        }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// The ZooKeeper server the ZooKeeper interop tests share, from `TOOZ_TEST_ZOOKEEPER_URL`
    /// (`zookeeper://127.0.0.1:PORT`, which scripts/test exports after starting a standalone
    /// server on loopback).
    static let zooKeeperURL: String? = variables["TOOZ_TEST_ZOOKEEPER_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the ZooKeeper interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunZooKeeper: Bool = zooKeeperURL != nil || isCI

    static let zooKeeperNotConfigured =
        "TOOZ_TEST_ZOOKEEPER_URL is not set: run scripts/test, which starts a ZooKeeper server on loopback and exports its URL"

    /// The ZooKeeper URL with `options` (`"timeout=4"`) appended, or a failure that explains how
    /// to get a server (reached only under CI).
    static func requireZooKeeperURL(_ options: String = "") throws -> String {
        guard let base = zooKeeperURL else {
            throw InteropSetupError(
                "\(zooKeeperNotConfigured). CI=true, so the ZooKeeper interop tests fail instead of being skipped; scripts/test's output says why the ZooKeeper server did not start."
            )
        }
        guard base.hasPrefix("zookeeper://") || base.hasPrefix("kazoo://") else {
            throw InteropSetupError("TOOZ_TEST_ZOOKEEPER_URL=\(base) is not a zookeeper:// URL")
        }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// The memcached the memcached interop tests share, from `TOOZ_TEST_MEMCACHED_URL`
    /// (`memcached://127.0.0.1:PORT`, which scripts/test exports after starting one on loopback).
    static let memcachedURL: String? = variables["TOOZ_TEST_MEMCACHED_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the memcached interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunMemcached: Bool = memcachedURL != nil || isCI

    static let memcachedNotConfigured =
        "TOOZ_TEST_MEMCACHED_URL is not set: run scripts/test, which starts a memcached on loopback and exports its URL"

    /// The memcached URL with `options` (`"timeout=5&lock_timeout=3"`) appended, or a failure
    /// that explains how to get a server (reached only under CI).
    static func requireMemcachedURL(_ options: String = "") throws -> String {
        guard let base = memcachedURL else {
            throw InteropSetupError(
                "\(memcachedNotConfigured). CI=true, so the memcached interop tests fail instead of being skipped; scripts/test's output says why memcached did not start."
            )
        }
        guard base.hasPrefix("memcached://") else {
            throw InteropSetupError("TOOZ_TEST_MEMCACHED_URL=\(base) is not a memcached:// URL")
        }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// The etcd the etcd interop tests share, from `TOOZ_TEST_ETCD_URL`
    /// (`etcd3+http://127.0.0.1:PORT`, which scripts/test exports after starting one on loopback).
    static let etcdURL: String? = variables["TOOZ_TEST_ETCD_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the etcd interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunEtcd: Bool = etcdURL != nil || isCI

    static let etcdNotConfigured =
        "TOOZ_TEST_ETCD_URL is not set: run scripts/test, which starts an etcd on loopback and exports its URL"

    /// The etcd URL with `options` (`"membership_timeout=3"`) appended, or a failure that
    /// explains how to get a server (reached only under CI).
    static func requireEtcdURL(_ options: String = "") throws -> String {
        guard let base = etcdURL else {
            throw InteropSetupError(
                "\(etcdNotConfigured). CI=true, so the etcd interop tests fail instead of being skipped; scripts/test's output says why etcd did not start."
            )
        }
        guard base.hasPrefix("etcd3+http://") || base.hasPrefix("etcd3+https://") else {
            throw InteropSetupError("TOOZ_TEST_ETCD_URL=\(base) is not an etcd3+http:// URL")
        }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// The PostgreSQL server the PostgreSQL interop tests share, from `TOOZ_TEST_POSTGRES_URL`
    /// (`postgresql://tooz:tooz-secret@127.0.0.1:PORT/tooz`, which scripts/test exports after
    /// starting a throwaway cluster on loopback).
    static let postgresURL: String? = variables["TOOZ_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the PostgreSQL interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunPostgres: Bool = postgresURL != nil || isCI

    static let postgresNotConfigured =
        "TOOZ_TEST_POSTGRES_URL is not set: run scripts/test, which starts a PostgreSQL server on loopback and exports its URL"

    /// The PostgreSQL URL with `options` (`"lock_keys=bigint"`) appended, or a failure that
    /// explains how to get a server (reached only under CI).
    static func requirePostgresURL(_ options: String = "") throws -> String {
        guard let base = postgresURL else {
            throw InteropSetupError(
                "\(postgresNotConfigured). CI=true, so the PostgreSQL interop tests fail instead of being skipped; scripts/test's output says why PostgreSQL did not start."
            )
        }
        guard base.hasPrefix("postgresql://") || base.hasPrefix("postgres://") else {
            throw InteropSetupError("TOOZ_TEST_POSTGRES_URL=\(base) is not a postgresql:// URL")
        }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// The MariaDB server the MySQL interop tests share, from `TOOZ_TEST_MYSQL_URL`
    /// (`mysql://tooz:tooz-secret@127.0.0.1:PORT/tooz`, which scripts/test exports after
    /// starting a throwaway server on loopback).
    static let mysqlURL: String? = variables["TOOZ_TEST_MYSQL_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run the MySQL interop tests when there is a server, and always under CI (where its
    /// absence is a failure).
    static let shouldRunMySQL: Bool = mysqlURL != nil || isCI

    /// The MySQL URL with `options` appended, or a failure that explains how to get a server
    /// (reached only under CI).
    static func requireMySQLURL(_ options: String = "") throws -> String {
        guard let base = mysqlURL else {
            throw InteropSetupError(
                "TOOZ_TEST_MYSQL_URL is not set: run scripts/test, which starts a MariaDB server on loopback and exports its URL. CI=true, so the MySQL interop tests fail instead of being skipped; scripts/test's output says why MariaDB did not start."
            )
        }
        guard base.hasPrefix("mysql://") else { throw InteropSetupError("TOOZ_TEST_MYSQL_URL=\(base) is not a mysql:// URL") }
        if options.isEmpty { return base }
        return base + (base.contains("?") ? "&" : "?") + options
    }

    /// `url` for a Swift coordinator: tooz's `timeout` is also how long the server may take to
    /// grant the session, which a loaded machine can exceed at tooz's default 10 s; so `timeout`
    /// is generous, and `membership_timeout` keeps the session at those 10 s. Python tooz keeps
    /// its own URL: it reads `timeout` as the session timeout.
    static func swiftZooKeeperURL(_ url: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "timeout=60&membership_timeout=10"
    }

    /// The helper the tests drive: `TOOZ_PEER_SCRIPT`, else scripts/interop/tooz_peer.py in
    /// this checkout.
    static let peerScript: String = {
        if let script = variables["TOOZ_PEER_SCRIPT"], !script.isEmpty { return script }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Support
            .deletingLastPathComponent()  // ToozInteropTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // the package root
            .appendingPathComponent("scripts/interop/tooz_peer.py").path
    }()

    /// The interpreter, or a failure that explains how to get one (reached only under CI, or
    /// when a test is run by hand with the trait bypassed).
    static func requirePython() throws -> String {
        guard let python else {
            throw InteropSetupError(
                "\(notConfigured). CI=true, so the interop tests fail instead of being skipped; scripts/test's output says why the venv could not be made."
            )
        }
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw InteropSetupError("TOOZ_PYTHON=\(python) is not an executable file")
        }
        guard FileManager.default.fileExists(atPath: peerScript) else {
            throw InteropSetupError("the Python peer script is missing at \(peerScript)")
        }
        return python
    }
}

struct InteropSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when neither `TOOZ_PYTHON` nor `CI=true` is set.
    static var requiresPythonTooz: Self {
        .enabled(
            if: InteropEnvironment.shouldRun,
            "TOOZ_PYTHON is not set: run scripts/test, which makes the Python tooz 9.1.0 venv and exports it"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_REDIS_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresRedisServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunRedis,
            "TOOZ_TEST_REDIS_URL is not set: run scripts/test, which starts a redis-server on loopback and exports its URL"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_ZOOKEEPER_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresZooKeeperServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunZooKeeper,
            "TOOZ_TEST_ZOOKEEPER_URL is not set: run scripts/test, which starts a ZooKeeper server on loopback and exports its URL"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_MEMCACHED_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresMemcachedServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunMemcached,
            "TOOZ_TEST_MEMCACHED_URL is not set: run scripts/test, which starts a memcached on loopback and exports its URL"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_ETCD_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresEtcdServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunEtcd,
            "TOOZ_TEST_ETCD_URL is not set: run scripts/test, which starts an etcd on loopback and exports its URL"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_POSTGRES_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresPostgresServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunPostgres,
            "TOOZ_TEST_POSTGRES_URL is not set: run scripts/test, which starts a PostgreSQL server on loopback and exports its URL"
        )
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, when `TOOZ_TEST_MYSQL_URL` is not set and `CI=true`
    /// is not either; under CI the test runs and fails on the missing server.
    static var requiresMySQLServer: Self {
        .enabled(
            if: InteropEnvironment.shouldRunMySQL,
            "TOOZ_TEST_MYSQL_URL is not set: run scripts/test, which starts a MariaDB server on loopback and exports its URL"
        )
    }
}

/// A private directory for one test's file:// backend and peer logs, removed afterwards.
struct TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String) throws {
        let base = FileManager.default.temporaryDirectory.path
        let template = "\(base)/tooz-interop-\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw InteropSetupError("mkdtemp(\(template)) failed: errno \(errno)") }
        path = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var fileURL: String { "file://\(path)" }

    /// `fileURL` with a 30 s membership timeout, for tests where liveness is not under test:
    /// with tooz's 10 s, a heartbeat delayed by a loaded machine (a release build beside the
    /// suite) dropped a live Swift member from Python's view. Both sides read the option.
    var steadyFileURL: String { fileURL + "?timeout=30" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Runs `body` with a fresh directory and always removes it.
    static func with<Result>(
        _ label: String,
        _ body: (TemporaryDirectory) async throws -> Result
    ) async throws -> Result {
        let directory = try TemporaryDirectory(label)
        do {
            let result = try await body(directory)
            directory.remove()
            return result
        } catch {
            directory.remove()
            throw error
        }
    }
}

/// A name no other test (or test run) uses, for groups, members and ipc:// locks.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}
