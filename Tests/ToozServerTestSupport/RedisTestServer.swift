#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozRedis
import ToozTestKit

/// A throwaway `redis-server` for one test: loopback only, no persistence, in its own temp
/// directory, with a unix socket beside the TCP port. Stopped by pid, never by name.
///
/// ```swift
/// try await RedisTestServer.withServer { server in
///     let connection = try await RedisConnection.connect(to: server.endpoint, …)
/// }
/// try await RedisTestServer.withServer(arguments: ["--requirepass", "pw"]) { server in … }
/// ```
///
/// A server from ``start(arguments:tls:)`` (rather than ``withServer(arguments:tls:_:)``) must be
/// ended with ``stopAndRemove()``. Fault tests can ``kill9()`` it, ``pause()`` and ``resume()``
/// it, and ``restart()`` it on the same port and directory. When
/// `TOOZ_TEST_TMP` is set (scripts/test), each running server's pid is listed as
/// `$TOOZ_TEST_TMP/test-servers/<pid>.pid`, so that a crashed test run leaves nothing behind.
package final class RedisTestServer: Sendable {
    /// TLS files for a server that listens with TLS on ``port`` (and not in plain text).
    package struct TLS: Sendable {
        package var certificatePath: String
        package var keyPath: String
        package var caCertificatesPath: String
        /// `yes`, `no` or `optional` (Redis's `tls-auth-clients`).
        package var authClients: String = "yes"
    }

    /// Files made by ``makeCertificates(in:)``.
    package struct Certificates: Sendable {
        package var caCertificatePath: String
        package var serverCertificatePath: String
        package var serverKeyPath: String
        package var clientCertificatePath: String
        package var clientKeyPath: String

        /// The server side of these files, for ``RedisTestServer/start(arguments:tls:)``.
        package func serverTLS(authClients: String = "yes") -> TLS {
            TLS(certificatePath: serverCertificatePath, keyPath: serverKeyPath, caCertificatesPath: caCertificatePath, authClients: authClients)
        }
    }

    /// Makes a CA, a server certificate for `127.0.0.1` and `localhost`, and a client
    /// certificate, with the `openssl` command line tool.
    package static func makeCertificates(in directory: String) throws -> Certificates {
        func path(_ name: String) -> String { directory + "/" + name }
        try run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.crt"),
                 "-days", "2", "-subj", "/CN=swift-tooz test CA"], in: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: path("client.ext"), atomically: true, encoding: .utf8)
        for (name, subject) in [("server", "/CN=localhost"), ("client", "/CN=swift-tooz test client")] {
            try run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
                     "-subj", subject], in: directory)
            try run(["openssl", "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                     "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", path("\(name).ext")], in: directory)
        }
        return Certificates(
            caCertificatePath: path("ca.crt"),
            serverCertificatePath: path("server.crt"),
            serverKeyPath: path("server.key"),
            clientCertificatePath: path("client.crt"),
            clientKeyPath: path("client.key")
        )
    }

    package enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)

        package var description: String {
            switch self {
            case .notInstalled: "redis-server is not on PATH"
            case .didNotStart(let log): "redis-server did not start: \(log)"
            }
        }
    }

    /// The loopback TCP port (TLS when the server was started with ``TLS``).
    package let port: Int
    /// The server's working directory (removed when it is stopped for good).
    package let directory: String
    package let arguments: [String]
    package let tls: TLS?
    private let process = Mutex<pid_t?>(nil)

    package var unixSocketPath: String { self.directory + "/redis.sock" }
    package var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: self.port) }
    package var unixEndpoint: RedisEndpoint { .unixSocket(path: self.unixSocketPath) }
    /// The running server's pid, if it runs.
    package var pid: pid_t? { self.process.withLock { $0 } }

    // MARK: - Availability

    /// The path of `redis-server`, if it is on PATH.
    package static let executable: String? = findExecutable("redis-server")

    /// Whether server tests run: when `redis-server` is installed, and always under `CI=true`
    /// (where a missing server must fail the run rather than skip it).
    package static var testsEnabled: Bool {
        executable != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    package static func findExecutable(_ name: String) -> String? { ServerProcess.findExecutable(name) }

    // MARK: - Lifecycle

    private init(port: Int, directory: String, arguments: [String], tls: TLS?) {
        self.port = port
        self.directory = directory
        self.arguments = arguments
        self.tls = tls
    }

    /// Starts a server on a free loopback port; `arguments` are appended to redis-server's.
    package static func start(arguments: [String] = [], tls: TLS? = nil) async throws -> RedisTestServer {
        guard executable != nil else { throw Failure.notInstalled }
        let directory = try makeTemporaryDirectory()
        var lastError: (any Error)?
        // A free port can be taken by someone else before redis binds it: try a few.
        for _ in 0..<5 {
            let server = RedisTestServer(port: try freePort(), directory: directory, arguments: arguments, tls: tls)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        removeTree(directory)
        throw lastError ?? Failure.didNotStart("no free port")
    }

    /// Runs `body` with a fresh server, and stops the server and removes its directory afterwards.
    package static func withServer<T>(
        arguments: [String] = [],
        tls: TLS? = nil,
        _ body: (RedisTestServer) async throws -> T
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
        Self.removeTree(self.directory)
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

    /// Starts the server again on the same port and in the same directory.
    package func restart() async throws {
        await self.stop()
        try await self.launch()
    }

    // MARK: - Process

    private var commandLine: [String] {
        var line = [Self.executable ?? "redis-server"]
        if let tls = self.tls {
            line += [
                "--port", "0", "--tls-port", String(self.port),
                "--tls-cert-file", tls.certificatePath, "--tls-key-file", tls.keyPath,
                "--tls-ca-cert-file", tls.caCertificatesPath, "--tls-auth-clients", tls.authClients,
            ]
        } else {
            line += ["--port", String(self.port)]
        }
        line += [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.directory,
            "--unixsocket", self.unixSocketPath, "--unixsocketperm", "700", "--daemonize", "no",
            "--enable-debug-command", "local", "--logfile", self.directory + "/redis.log",
        ]
        return line + self.arguments
    }

    private func launch() async throws {
        let pid = try ServerProcess.spawn(self.commandLine, output: self.directory + "/redis.out")
        self.process.withLock { $0 = pid }
        // A bound against a server that never answers, generous for a loaded machine.
        let limit = Duration.testPatience
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if self.reap(pid, blocking: false) {
                throw Failure.didNotStart(self.logTail())
            }
            if Self.answers(unixSocket: self.unixSocketPath) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        await self.stop()
        throw Failure.didNotStart("no answer within \(limit); " + self.logTail())
    }

    private func logTail() -> String {
        let log = (try? String(contentsOfFile: self.directory + "/redis.log", encoding: .utf8)) ?? ""
        let out = (try? String(contentsOfFile: self.directory + "/redis.out", encoding: .utf8)) ?? ""
        return String((log + out).suffix(600))
    }

    /// Reaps `pid` if it ended; `true` once it is gone (and forgotten).
    private func reap(_ pid: pid_t, blocking: Bool) -> Bool {
        guard ServerProcess.reap(pid, blocking: blocking) else { return false }
        self.process.withLock { if $0 == pid { $0 = nil } }
        return true
    }


    /// Runs a helper program (openssl) to completion; throws when it fails.
    package static func run(_ arguments: [String], in directory: String) throws {
        let output = directory + "/command.out"
        var line = arguments
        line[0] = findExecutable(arguments[0]) ?? arguments[0]
        let status = try ServerProcess.runToCompletion(line, output: output)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw Failure.didNotStart("\(arguments.joined(separator: " ")) failed (\(status)): \(text.suffix(400))")
        }
    }




    // MARK: - Helpers

    /// A directory short enough for a unix socket path (at most 107 bytes).
    package static func makeTemporaryDirectory() throws -> String { try ServerProcess.makeTemporaryDirectory(prefix: "tooz-redis") }

    package static func removeTree(_ path: String) { ServerProcess.removeTree(path) }

    /// A loopback port nobody listens on right now.
    package static func freePort() throws -> Int { try ServerProcess.freePort() }

    /// Whether a server answers `PING` on the unix socket (any reply counts: `-NOAUTH` too).
    package static func answers(unixSocket path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &reply, reply.count)
        return count > 0 && (reply[0] == UInt8(ascii: "+") || reply[0] == UInt8(ascii: "-"))
    }
}
