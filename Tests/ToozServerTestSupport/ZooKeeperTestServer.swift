#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozTestKit
import ToozZooKeeper

/// A throwaway ZooKeeper server for one test, run from the Debian package's jars: loopback
/// only, in its own temp directory, in the foreground, stopped by pid (never by name). Also a
/// three-server ensemble on loopback ports for failover tests.
///
/// ```swift
/// try await ZooKeeperTestServer.withServer { server in … server.url … }
/// try await ZooKeeperTestServer.withEnsemble { servers in … }
/// ```
///
/// Fault tests can ``stop()``, ``kill9()``, ``pause()``/``resume()`` (SIGSTOP/SIGCONT) and
/// ``restart()`` a server on the same ports and data. When `TOOZ_TEST_TMP` is set
/// (scripts/test), each running server's pid is listed as `$TOOZ_TEST_TMP/test-servers/<pid>.pid`,
/// so that a crashed test run leaves nothing behind.
package final class ZooKeeperTestServer: Sendable {
    package enum Failure: Error, CustomStringConvertible {
        case notInstalled(String)
        case didNotStart(String)

        package var description: String {
            switch self {
            case .notInstalled(let what): "ZooKeeper cannot run here: \(what)"
            case .didNotStart(let log): "the ZooKeeper server did not start: \(log)"
            }
        }
    }

    /// The server's id in an ensemble (its `myid`), 0 when standalone.
    package let id: Int
    /// The loopback client port.
    package let port: Int
    /// The server's directory: its config, data and log (removed when it is stopped for good).
    package let directory: String
    private let mainClass: String
    private let process = Mutex<pid_t?>(nil)

    /// `zookeeper://127.0.0.1:PORT`.
    package var url: String { "zookeeper://127.0.0.1:\(self.port)" }

    /// URL options for a coordinator whose session lasts `seconds`. tooz's `timeout` is also
    /// how long the server may take to grant the session (and to answer a request), which a
    /// loaded machine can exceed when it equals a short session timeout; so `timeout` is
    /// generous and the shorter `membership_timeout` sets the session (and every TTL).
    package static func sessionOptions(seconds: Int) -> String {
        "timeout=\(Duration.testPatience.components.seconds)&membership_timeout=\(seconds)"
    }
    package var server: ZooKeeperURL.Server { ZooKeeperURL.Server(host: "127.0.0.1", port: self.port) }
    /// The running server's pid, if it runs.
    package var pid: pid_t? { self.process.withLock { $0 } }

    // MARK: - Availability

    /// `java` on PATH.
    package static let java: String? = findExecutable("java")

    /// The Debian package's server jar (its manifest names the other jars it needs), and an
    /// slf4j binding when there is one, so that the server's log lands in its directory.
    /// `TOOZ_ZOOKEEPER_CLASSPATH` overrides it.
    package static let classpath: String? = {
        if let override = ProcessInfo.processInfo.environment["TOOZ_ZOOKEEPER_CLASSPATH"], !override.isEmpty {
            return override
        }
        let jar = "/usr/share/java/zookeeper.jar"
        guard access(jar, R_OK) == 0 else { return nil }
        let binding = "/usr/share/java/slf4j-simple.jar"
        return access(binding, R_OK) == 0 ? "\(jar):\(binding)" : jar
    }()

    /// Why the server tests cannot run here, or `nil` when they can.
    package static var missing: String? {
        if java == nil { return "java is not on PATH" }
        if classpath == nil { return "/usr/share/java/zookeeper.jar is missing (apt-get install zookeeper)" }
        return nil
    }

    /// Whether server tests run: when java and the jars are there, and always under `CI=true`
    /// (where a missing server must fail the run rather than skip it).
    package static var testsEnabled: Bool {
        missing == nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    package static func findExecutable(_ name: String) -> String? { ServerProcess.findExecutable(name) }

    // MARK: - Lifecycle

    private init(id: Int, port: Int, directory: String, mainClass: String) {
        self.id = id
        self.port = port
        self.directory = directory
        self.mainClass = mainClass
    }

    /// Settings every server gets: a short tick (sessions from 1 s), sessions up to 60 s, no
    /// admin server, every four-letter word (readiness is checked with `srvr`).
    private static func commonConfig(port: Int, dataDir: String) -> String {
        """
        tickTime=500
        initLimit=20
        syncLimit=10
        minSessionTimeout=1000
        maxSessionTimeout=60000
        dataDir=\(dataDir)
        clientPort=\(port)
        clientPortAddress=127.0.0.1
        admin.enableServer=false
        4lw.commands.whitelist=*

        """
    }

    /// Starts a standalone server on a free loopback port.
    package static func start() async throws -> ZooKeeperTestServer {
        if let missing { throw Failure.notInstalled(missing) }
        var lastError: (any Error)?
        // A free port can be taken by someone else before the server binds it: try a few.
        for _ in 0..<3 {
            let directory = try makeTemporaryDirectory()
            let port = try freePort()
            try commonConfig(port: port, dataDir: directory + "/data")
                .write(toFile: directory + "/zoo.cfg", atomically: true, encoding: .utf8)
            let server = ZooKeeperTestServer(
                id: 0,
                port: port,
                directory: directory,
                mainClass: "org.apache.zookeeper.server.ZooKeeperServerMain"
            )
            do {
                try await server.launch()
                try await server.waitUntilServing()
                return server
            } catch {
                await server.stopAndRemove()
                lastError = error
            }
        }
        throw lastError ?? Failure.didNotStart("no free port")
    }

    /// Starts an ensemble of `size` servers on loopback and waits until each one serves.
    package static func startEnsemble(size: Int = 3) async throws -> [ZooKeeperTestServer] {
        if let missing { throw Failure.notInstalled(missing) }
        var ports: Set<Int> = []
        while ports.count < size * 3 { ports.insert(try freePort()) }
        let all = Array(ports)
        let clientPorts = Array(all[0..<size])
        var peers = ""
        for index in 0..<size {
            peers += "server.\(index + 1)=127.0.0.1:\(all[size + index]):\(all[2 * size + index])\n"
        }
        var servers: [ZooKeeperTestServer] = []
        do {
            for index in 0..<size {
                let directory = try makeTemporaryDirectory()
                try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
                try "\(index + 1)\n".write(toFile: directory + "/data/myid", atomically: true, encoding: .utf8)
                try (commonConfig(port: clientPorts[index], dataDir: directory + "/data") + peers)
                    .write(toFile: directory + "/zoo.cfg", atomically: true, encoding: .utf8)
                let server = ZooKeeperTestServer(
                    id: index + 1,
                    port: clientPorts[index],
                    directory: directory,
                    mainClass: "org.apache.zookeeper.server.quorum.QuorumPeerMain"
                )
                servers.append(server)
                try await server.launch()
            }
            for server in servers { try await server.waitUntilServing() }
            return servers
        } catch {
            for server in servers { await server.stopAndRemove() }
            throw error
        }
    }

    /// Runs `body` with a fresh standalone server, then stops it and removes its directory.
    package static func withServer<T>(_ body: (ZooKeeperTestServer) async throws -> T) async throws -> T {
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

    /// Runs `body` with a fresh ensemble, then stops every server and removes their directories.
    package static func withEnsemble<T>(size: Int = 3, _ body: ([ZooKeeperTestServer]) async throws -> T) async throws -> T {
        let servers = try await startEnsemble(size: size)
        do {
            let result = try await body(servers)
            for server in servers { await server.stopAndRemove() }
            return result
        } catch {
            for server in servers { await server.stopAndRemove() }
            throw error
        }
    }

    /// SIGTERM, then SIGKILL after 10 s; waits for the process to end.
    package func stop() async {
        guard let pid = self.pid else { return }
        await ServerProcess.stop(pid, grace: .seconds(10))
        self.process.withLock { if $0 == pid { $0 = nil } }
    }

    /// Stops the server and removes its directory.
    package func stopAndRemove() async {
        await self.stop()
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to end.
    package func kill9() async {
        guard let pid = self.pid else { return }
        kill(pid, SIGKILL)
        _ = self.reap(pid, blocking: true)
    }

    /// Freezes the server (SIGSTOP): its sockets stay open, nothing answers.
    package func pause() {
        guard let pid = self.pid else { return }
        ServerProcess.freeze(pid)
    }

    /// Lets a paused server run again (SIGCONT).
    package func resume() {
        guard let pid = self.pid else { return }
        kill(pid, SIGCONT)
    }

    /// Starts the server again on the same ports with the same data, and waits until it serves
    /// (for an ensemble member: until it has rejoined a quorum).
    package func restart() async throws {
        await self.stop()
        try await self.launch()
        try await self.waitUntilServing()
    }

    // MARK: - Process

    private var commandLine: [String] {
        [
            Self.java ?? "java",
            "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Dzookeeper.admin.enableServer=false",
            "-cp", Self.classpath ?? "/usr/share/java/zookeeper.jar",
            self.mainClass,
            self.directory + "/zoo.cfg",
        ]
    }

    private func launch() async throws {
        let pid = try ServerProcess.spawn(self.commandLine, output: self.directory + "/server.log")
        self.process.withLock { $0 = pid }
    }

    /// Waits until `srvr` reports a mode (standalone, leader or follower): the server serves.
    private func waitUntilServing() async throws {
        guard let pid = self.pid else { throw Failure.didNotStart("not running") }
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            if self.reap(pid, blocking: false) {
                throw Failure.didNotStart("the process exited; " + self.logTail())
            }
            if let reply = Self.fourLetterWord("srvr", port: self.port), reply.contains("Mode: ") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure.didNotStart("not serving within 90 s; " + self.logTail())
    }

    /// The server's mode from `srvr` (`standalone`, `leader`, `follower`), `nil` when it does
    /// not serve.
    package var mode: String? {
        guard let reply = Self.fourLetterWord("srvr", port: self.port) else { return nil }
        for line in reply.split(separator: "\n") where line.hasPrefix("Mode: ") {
            return String(line.dropFirst("Mode: ".count))
        }
        return nil
    }

    package func logTail() -> String {
        let log = (try? String(contentsOfFile: self.directory + "/server.log", encoding: .utf8)) ?? ""
        return String(log.suffix(1500))
    }

    /// Reaps `pid` if it ended; `true` once it is gone (and forgotten).
    private func reap(_ pid: pid_t, blocking: Bool) -> Bool {
        guard ServerProcess.reap(pid, blocking: blocking) else { return false }
        self.process.withLock { if $0 == pid { $0 = nil } }
        return true
    }





    // MARK: - Helpers

    /// A directory short enough for a unix socket path (at most 107 bytes).
    package static func makeTemporaryDirectory() throws -> String { try ServerProcess.makeTemporaryDirectory(prefix: "tooz-zookeeper") }

    /// A loopback port nobody listens on right now.
    package static func freePort() throws -> Int { try ServerProcess.freePort() }

    /// Sends a four-letter word to 127.0.0.1:`port` and returns the whole reply, or `nil` when
    /// nothing answers within 2 s.
    package static func fourLetterWord(_ word: String, port: Int) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let bytes = Array(word.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return nil }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            reply += chunk[0..<count]
        }
        return reply.isEmpty ? nil : String(decoding: reply, as: UTF8.self)
    }
}
