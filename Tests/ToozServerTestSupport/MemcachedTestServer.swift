#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozTestKit

/// A throwaway `memcached` for one test: loopback only, TCP only (`-U 0`), on a free port, in
/// its own temp directory for its output. Stopped by pid, never by name.
///
/// ```swift
/// try await MemcachedTestServer.withServer { server in
///     let client = MemcachedClient(configuration: .init(host: "127.0.0.1", port: server.port), logger: logger)
/// }
/// ```
///
/// A server from ``start(arguments:tls:)`` (rather than ``withServer(arguments:tls:_:)``) must be
/// ended with ``stopAndRemove()``. Fault tests can ``kill9()`` it, ``pause()`` and ``resume()``
/// it, and ``restart()`` it on the same port. When `TOOZ_TEST_TMP` is set (scripts/test), each
/// running server's pid is listed as `$TOOZ_TEST_TMP/test-servers/<pid>.pid`.
package final class MemcachedTestServer: Sendable {
    /// TLS files for a server that speaks TLS only (`-Z`) on ``port``.
    package struct TLS: Sendable {
        package var certificatePath: String
        package var keyPath: String

        package init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    package enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)

        package var description: String {
            switch self {
            case .notInstalled: "memcached is not installed (/usr/bin/memcached or on PATH)"
            case .didNotStart(let log): "memcached did not start: \(log)"
            }
        }
    }

    /// The loopback TCP port (TLS when the server was started with ``TLS``).
    package let port: Int
    /// Where the server's output goes (removed when it is stopped for good).
    package let directory: String
    package let arguments: [String]
    package let tls: TLS?
    private let process = Mutex<pid_t?>(nil)

    /// The running server's pid, if it runs.
    package var pid: pid_t? { self.process.withLock { $0 } }

    // MARK: - Availability

    /// The path of `memcached`: /usr/bin/memcached, or the first on PATH.
    package static let executable: String? =
        access("/usr/bin/memcached", X_OK) == 0 ? "/usr/bin/memcached" : ServerProcess.findExecutable("memcached")

    /// Whether server tests run: when `memcached` is installed, and always under `CI=true`
    /// (where a missing server must fail the run rather than skip it).
    package static var testsEnabled: Bool {
        executable != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    // MARK: - Lifecycle

    private init(port: Int, directory: String, arguments: [String], tls: TLS?) {
        self.port = port
        self.directory = directory
        self.arguments = arguments
        self.tls = tls
    }

    /// Starts a server on a free loopback port; `arguments` are appended to memcached's.
    ///
    /// memcached drops root for `nobody`, so with ``TLS`` the certificate and key files (and
    /// their directory) are made readable to others: they are throwaway test files.
    package static func start(arguments: [String] = [], tls: TLS? = nil) async throws -> MemcachedTestServer {
        guard executable != nil else { throw Failure.notInstalled }
        if let tls, geteuid() == 0 {
            for path in [tls.certificatePath, tls.keyPath] {
                chmod(path, 0o644)
                chmod((path as NSString).deletingLastPathComponent, 0o755)
            }
        }
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-memcached")
        var lastError: (any Error)?
        // A free port can be taken by someone else before memcached binds it: try a few.
        for _ in 0..<5 {
            let server = MemcachedTestServer(port: try ServerProcess.freePort(), directory: directory, arguments: arguments, tls: tls)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        ServerProcess.removeTree(directory)
        throw lastError ?? Failure.didNotStart("no free port")
    }

    /// Runs `body` with a fresh server, and stops the server and removes its directory afterwards.
    package static func withServer<T>(
        arguments: [String] = [],
        tls: TLS? = nil,
        _ body: (MemcachedTestServer) async throws -> T
    ) async throws -> T {
        let server = try await start(arguments: arguments, tls: tls)
        do {
            let result = try await body(server)
            await server.stopAndRemove()
            return result
        } catch {
            await server.stopAndRemove()
            throw error
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; waits for the process to end.
    package func stop() async {
        guard let pid = self.pid else { return }
        await ServerProcess.stop(pid, grace: .seconds(5))
        self.process.withLock { if $0 == pid { $0 = nil } }
    }

    /// Stops the server and removes its directory.
    package func stopAndRemove() async {
        await self.stop()
        ServerProcess.removeTree(self.directory)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to end.
    package func kill9() async {
        guard let pid = self.pid else { return }
        kill(pid, SIGKILL)
        _ = self.reap(pid, blocking: true)
    }

    /// Freezes the server with SIGSTOP: connections stay open, nothing is answered.
    package func pause() {
        if let pid = self.pid { ServerProcess.freeze(pid) }
    }

    /// Lets a ``pause()``d server run again (SIGCONT).
    package func resume() {
        if let pid = self.pid { kill(pid, SIGCONT) }
    }

    /// Starts the server again on the same port (with an empty cache).
    package func restart() async throws {
        await self.stop()
        try await self.launch()
    }

    // MARK: - Process

    private var commandLine: [String] {
        var line = [Self.executable ?? "memcached", "-l", "127.0.0.1", "-p", String(self.port), "-U", "0"]
        // memcached refuses to run as root unless told whom to become.
        if geteuid() == 0 { line += ["-u", "nobody"] }
        if let tls = self.tls {
            line += ["-Z", "-o", "ssl_chain_cert=\(tls.certificatePath),ssl_key=\(tls.keyPath)"]
        }
        return line + self.arguments
    }

    private func launch() async throws {
        let pid = try ServerProcess.spawn(self.commandLine, output: self.directory + "/memcached.out")
        self.process.withLock { $0 = pid }
        // A bound against a server that never starts, generous for a loaded machine.
        let limit = Duration.testPatience
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if self.reap(pid, blocking: false) {
                throw Failure.didNotStart(self.logTail())
            }
            // A TLS port cannot be asked in plain text; accepting a connection is proof enough.
            if Self.answers(port: self.port, plainText: self.tls == nil) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        await self.stop()
        throw Failure.didNotStart("no answer within \(limit); " + self.logTail())
    }

    private func logTail() -> String {
        let out = (try? String(contentsOfFile: self.directory + "/memcached.out", encoding: .utf8)) ?? ""
        return String(out.suffix(600))
    }

    /// Reaps `pid` if it ended; `true` once it is gone (and forgotten).
    private func reap(_ pid: pid_t, blocking: Bool) -> Bool {
        guard ServerProcess.reap(pid, blocking: blocking) else { return false }
        self.process.withLock { if $0 == pid { $0 = nil } }
        return true
    }

    /// Whether something accepts a TCP connection on 127.0.0.1:`port` and, in plain text,
    /// answers `mn` with `MN`.
    package static func answers(port: Int, plainText: Bool) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        guard plainText else { return true }
        let noop = Array("mn\r\n".utf8)
        guard write(fd, noop, noop.count) == noop.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let count = read(fd, &reply, reply.count)
        return count >= 2 && reply[0] == UInt8(ascii: "M") && reply[1] == UInt8(ascii: "N")
    }
}
