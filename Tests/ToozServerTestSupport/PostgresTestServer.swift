#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozTestKit

/// A throwaway PostgreSQL cluster for one test: `initdb` into its own temp directory, the
/// superuser `tooz` (password `tooz-secret`, scram-sha-256 over TCP) and a database `tooz`,
/// `postgres` on a free loopback port with its socket in the directory. Stopped by pid, never
/// by name.
///
/// PostgreSQL refuses to run as root: under root the cluster belongs to, and the server runs as,
/// the `postgres` user (through `setpriv`, which becomes the server, so the pid is its own).
/// Fault tests can ``pause()`` it (every process of the cluster with SIGSTOP), ``resume()`` it,
/// ``restart()`` it on the same port (a fast shutdown: every session ends), and run SQL as the
/// superuser with ``psql(_:database:)``.
package final class PostgresTestServer: Sendable {
    package enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)
        case sqlFailed(String)

        package var description: String {
            switch self {
            case .notInstalled: "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)"
            case .didNotStart(let log): "PostgreSQL did not start: \(log)"
            case .sqlFailed(let output): "psql failed: \(output)"
            }
        }
    }

    package let port: Int
    package let directory: String
    private let process = Mutex<pid_t?>(nil)

    package var pid: pid_t? { process.withLock { $0 } }

    /// `postgresql://tooz:tooz-secret@127.0.0.1:PORT/tooz`.
    package var url: String { "postgresql://tooz:tooz-secret@127.0.0.1:\(port)/tooz" }

    /// The directory of `initdb`, `postgres` and `psql`: scripts/test's, or the newest installed.
    package static let binDirectory: String? = {
        if let bin = ProcessInfo.processInfo.environment["TOOZ_TEST_POSTGRES_BIN"], access(bin + "/postgres", X_OK) == 0 { return bin }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let newest = versions.compactMap(Int.init).max()
        return newest.map { "/usr/lib/postgresql/\($0)/bin" }.flatMap { access($0 + "/postgres", X_OK) == 0 ? $0 : nil }
    }()

    /// Whether server tests run: when PostgreSQL is installed, and always under `CI=true`.
    package static var testsEnabled: Bool {
        binDirectory != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// Runs `body` with a fresh cluster, then stops it and removes its directory.
    package static func withServer<T>(_ body: (PostgresTestServer) async throws -> T) async throws -> T {
        let server = try await start()
        do {
            let result = try await body(server)
            await server.stopAndRemove()
            return result
        } catch {
            await server.stopAndRemove()
            throw error
        }
    }

    package static func start() async throws -> PostgresTestServer {
        guard let bin = binDirectory else { throw Failure.notInstalled }
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-postgres")
        do {
            try FileManager.default.createDirectory(atPath: directory + "/socket", withIntermediateDirectories: true)
            try Data("tooz-secret\n".utf8).write(to: URL(fileURLWithPath: directory + "/password"))
            if geteuid() == 0 {
                chmod(directory, 0o755)
                for path in [directory, directory + "/socket", directory + "/password"] { chown(path, postgresUser.uid, postgresUser.gid) }
            }
            let status = try ServerProcess.runToCompletion(
                asServerUser([
                    bin + "/initdb", "-D", directory + "/data", "-U", "tooz", "--pwfile", directory + "/password", "--auth-local=trust",
                    "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "-N",
                ]),
                output: directory + "/initdb.log"
            )
            guard status == 0 else { throw Failure.didNotStart("initdb: " + tail(directory + "/initdb.log")) }
        } catch {
            ServerProcess.removeTree(directory)
            throw error
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = PostgresTestServer(port: try ServerProcess.freePort(), directory: directory)
            do {
                try await server.launch()
                _ = try server.psql("CREATE DATABASE tooz", database: "postgres")
                return server
            } catch {
                lastError = error
                await server.stop()
            }
        }
        ServerProcess.removeTree(directory)
        throw lastError ?? Failure.didNotStart("no free port")
    }

    /// A fast shutdown (SIGINT: every session is ended, nothing waits for clients), then
    /// SIGKILL if it has not ended within 15 s.
    package func stop() async {
        guard let pid = self.pid else { return }
        for child in Self.children(of: pid) { kill(child, SIGCONT) }
        kill(pid, SIGCONT)
        kill(pid, SIGINT)
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if ServerProcess.reap(pid, blocking: false) {
                process.withLock { if $0 == pid { $0 = nil } }
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill(pid, SIGKILL)
        _ = ServerProcess.reap(pid, blocking: true)
        process.withLock { if $0 == pid { $0 = nil } }
    }

    package func stopAndRemove() async {
        await stop()
        ServerProcess.removeTree(directory)
    }

    /// Stops the cluster and starts it again on the same port: every connection is ended.
    package func restart() async throws {
        await stop()
        try await launch()
    }

    /// Freezes every process of the cluster with SIGSTOP: connections stay open, nothing is
    /// answered (stopping the postmaster alone would leave the sessions running).
    package func pause() {
        guard let pid else { return }
        ServerProcess.freeze(pid)
        for child in Self.children(of: pid) { ServerProcess.freeze(child) }
    }

    package func resume() {
        guard let pid else { return }
        for child in Self.children(of: pid) { kill(child, SIGCONT) }
        kill(pid, SIGCONT)
    }

    /// Runs `sql` with psql over the unix socket as the superuser; returns its unaligned output.
    @discardableResult
    package func psql(_ sql: String, database: String = "tooz") throws -> String {
        guard let bin = Self.binDirectory else { throw Failure.notInstalled }
        let output = directory + "/psql-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(output) }
        let status = try ServerProcess.runToCompletion(
            [bin + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", directory + "/socket", "-p", String(port), "-U", "tooz", "-d", database, "-c", sql],
            output: output
        )
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failure.sqlFailed(text) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Process

    private func launch() async throws {
        guard let bin = Self.binDirectory else { throw Failure.notInstalled }
        let pid = try ServerProcess.spawn(
            Self.asServerUser([
                bin + "/postgres", "-D", directory + "/data", "-k", directory + "/socket", "-p", String(port),
                "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100", "-c", "fsync=off",
            ]),
            output: directory + "/postgres.log"
        )
        process.withLock { $0 = pid }
        let deadline = ContinuousClock.now + Duration.testPatience
        while ContinuousClock.now < deadline {
            if ServerProcess.reap(pid, blocking: false) {
                process.withLock { if $0 == pid { $0 = nil } }
                throw Failure.didNotStart(Self.tail(directory + "/postgres.log"))
            }
            if (try? psql("SELECT 1", database: "postgres")) == "1" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure.didNotStart("no answer within \(Duration.testPatience); " + Self.tail(directory + "/postgres.log"))
    }

    private static let postgresUser: (uid: uid_t, gid: gid_t) = {
        guard let entry = getpwnam("postgres") else { return (65534, 65534) }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }()

    /// `command` as the `postgres` user when we are root (setpriv replaces itself with it).
    private static func asServerUser(_ command: [String]) -> [String] {
        guard geteuid() == 0 else { return command }
        return ["/usr/bin/setpriv", "--reuid=\(postgresUser.uid)", "--regid=\(postgresUser.gid)", "--clear-groups", "--"] + command
    }

    /// The processes whose parent is `pid` (the cluster's sessions and workers), from /proc.
    private static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let child = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }

    private static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(800))
    }
}
