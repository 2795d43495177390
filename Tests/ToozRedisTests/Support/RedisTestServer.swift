#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozRedis

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
final class RedisTestServer: Sendable {
    /// TLS files for a server that listens with TLS on ``port`` (and not in plain text).
    struct TLS: Sendable {
        var certificatePath: String
        var keyPath: String
        var caCertificatesPath: String
        /// `yes`, `no` or `optional` (Redis's `tls-auth-clients`).
        var authClients: String = "yes"
    }

    /// Files made by ``makeCertificates(in:)``.
    struct Certificates: Sendable {
        var caCertificatePath: String
        var serverCertificatePath: String
        var serverKeyPath: String
        var clientCertificatePath: String
        var clientKeyPath: String

        /// The server side of these files, for ``RedisTestServer/start(arguments:tls:)``.
        func serverTLS(authClients: String = "yes") -> TLS {
            TLS(certificatePath: serverCertificatePath, keyPath: serverKeyPath, caCertificatesPath: caCertificatePath, authClients: authClients)
        }
    }

    /// Makes a CA, a server certificate for `127.0.0.1` and `localhost`, and a client
    /// certificate, with the `openssl` command line tool.
    static func makeCertificates(in directory: String) throws -> Certificates {
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

    enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)

        var description: String {
            switch self {
            case .notInstalled: "redis-server is not on PATH"
            case .didNotStart(let log): "redis-server did not start: \(log)"
            }
        }
    }

    /// The loopback TCP port (TLS when the server was started with ``TLS``).
    let port: Int
    /// The server's working directory (removed when it is stopped for good).
    let directory: String
    let arguments: [String]
    let tls: TLS?
    private let process = Mutex<pid_t?>(nil)

    var unixSocketPath: String { self.directory + "/redis.sock" }
    var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: self.port) }
    var unixEndpoint: RedisEndpoint { .unixSocket(path: self.unixSocketPath) }
    /// The running server's pid, if it runs.
    var pid: pid_t? { self.process.withLock { $0 } }

    // MARK: - Availability

    /// The path of `redis-server`, if it is on PATH.
    static let executable: String? = findExecutable("redis-server")

    /// Whether server tests run: when `redis-server` is installed, and always under `CI=true`
    /// (where a missing server must fail the run rather than skip it).
    static var testsEnabled: Bool {
        executable != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    // MARK: - Lifecycle

    private init(port: Int, directory: String, arguments: [String], tls: TLS?) {
        self.port = port
        self.directory = directory
        self.arguments = arguments
        self.tls = tls
    }

    /// Starts a server on a free loopback port; `arguments` are appended to redis-server's.
    static func start(arguments: [String] = [], tls: TLS? = nil) async throws -> RedisTestServer {
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
    static func withServer<T>(
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
    func stop() async {
        guard let pid = self.pid else { return }
        kill(pid, SIGTERM)
        // A paused server only acts on SIGTERM once it runs again.
        kill(pid, SIGCONT)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if self.reap(pid, blocking: false) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill(pid, SIGKILL)
        _ = self.reap(pid, blocking: true)
    }

    /// Stops the server and removes its directory.
    func stopAndRemove() async {
        await self.stop()
        Self.removeTree(self.directory)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to end.
    func kill9() async {
        guard let pid = self.pid else { return }
        kill(pid, SIGKILL)
        _ = self.reap(pid, blocking: true)
    }

    /// Freezes the server with SIGSTOP: connections stay open, nothing is answered.
    func pause() {
        if let pid = self.pid { kill(pid, SIGSTOP) }
    }

    /// Lets a ``pause()``d server run again (SIGCONT).
    func resume() {
        if let pid = self.pid { kill(pid, SIGCONT) }
    }

    /// Starts the server again on the same port and in the same directory.
    func restart() async throws {
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
        let pid = try Self.spawn(self.commandLine, output: self.directory + "/redis.out")
        self.process.withLock { $0 = pid }
        Self.recordPID(pid)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if self.reap(pid, blocking: false) {
                throw Failure.didNotStart(self.logTail())
            }
            if Self.answers(unixSocket: self.unixSocketPath) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        await self.stop()
        throw Failure.didNotStart("no answer within 10 s; " + self.logTail())
    }

    private func logTail() -> String {
        let log = (try? String(contentsOfFile: self.directory + "/redis.log", encoding: .utf8)) ?? ""
        let out = (try? String(contentsOfFile: self.directory + "/redis.out", encoding: .utf8)) ?? ""
        return String((log + out).suffix(600))
    }

    /// Reaps `pid` if it ended; `true` once it is gone (and forgotten).
    private func reap(_ pid: pid_t, blocking: Bool) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
        guard result == pid || (result == -1 && errno == ECHILD) else { return false }
        self.process.withLock { if $0 == pid { $0 = nil } }
        Self.forgetPID(pid)
        return true
    }

    static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test runner may ignore or block signals; the server must get SIGTERM normally.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw Failure.didNotStart("\(arguments[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Runs a helper program (openssl) to completion; throws when it fails.
    static func run(_ arguments: [String], in directory: String) throws {
        let output = directory + "/command.out"
        var line = arguments
        line[0] = findExecutable(arguments[0]) ?? arguments[0]
        let pid = try spawn(line, output: output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw Failure.didNotStart("\(arguments.joined(separator: " ")) failed (\(status)): \(text.suffix(400))")
        }
    }

    // MARK: - pid files for scripts/test

    private static var pidDirectory: String? {
        ProcessInfo.processInfo.environment["TOOZ_TEST_TMP"].map { $0 + "/test-servers" }
    }

    static func recordPID(_ pid: pid_t) {
        guard let directory = pidDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(directory)/\(pid).pid", contents: Data("\(pid)\n".utf8))
    }

    static func forgetPID(_ pid: pid_t) {
        guard let directory = pidDirectory else { return }
        try? FileManager.default.removeItem(atPath: "\(directory)/\(pid).pid")
    }

    // MARK: - Helpers

    /// A directory short enough for a unix socket path (at most 107 bytes).
    static func makeTemporaryDirectory() throws -> String {
        var base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        if base.utf8.count > 60 { base = "/tmp" }
        var template = Array((base + "/tooz-redis.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure.didNotStart("mkdtemp: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.didNotStart("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure.didNotStart("bind: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a server answers `PING` on the unix socket (any reply counts: `-NOAUTH` too).
    static func answers(unixSocket path: String) -> Bool {
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
