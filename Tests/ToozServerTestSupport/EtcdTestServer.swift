#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozTestKit

/// Throwaway etcd members for one test, on free loopback ports, each in its own data directory
/// under one temp directory: a single member (``withServer(_:)``) or a three-member cluster
/// (``withCluster(size:_:)``). Stopped by pid, never by name.
///
/// Fault tests can ``Member/kill9()``, ``Member/pause()`` and ``Member/resume()`` a member and
/// ``Member/restart()`` it with its data. When `TOOZ_TEST_TMP` is set (scripts/test), each
/// running member's pid is listed as `$TOOZ_TEST_TMP/test-servers/<pid>.pid`.
package final class EtcdTestServer: Sendable {
    package enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)

        package var description: String {
            switch self {
            case .notInstalled: "etcd is not installed (/usr/bin/etcd or on PATH; Debian's etcd-server)"
            case .didNotStart(let log): "etcd did not start: \(log)"
            }
        }
    }

    /// One etcd process.
    package final class Member: Sendable {
        package let name: String
        package let clientPort: Int
        package let peerPort: Int
        package let directory: String
        fileprivate let initialCluster: String
        fileprivate let tls: TLS?
        private let process = Mutex<pid_t?>(nil)

        fileprivate init(name: String, clientPort: Int, peerPort: Int, directory: String, initialCluster: String, tls: TLS?) {
            self.name = name
            self.clientPort = clientPort
            self.peerPort = peerPort
            self.directory = directory
            self.initialCluster = initialCluster
            self.tls = tls
        }

        /// The running member's pid, if it runs.
        package var pid: pid_t? { process.withLock { $0 } }

        /// `127.0.0.1:PORT` of its client (gRPC) port.
        package var endpoint: String { "127.0.0.1:\(clientPort)" }

        fileprivate func launch() throws {
            let scheme = tls == nil ? "http" : "https"
            var line = [
                EtcdTestServer.executable ?? "etcd", "--name", name, "--data-dir", directory + "/data",
                "--listen-client-urls", "\(scheme)://127.0.0.1:\(clientPort)", "--advertise-client-urls", "\(scheme)://127.0.0.1:\(clientPort)",
                "--listen-peer-urls", "http://127.0.0.1:\(peerPort)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--log-level", "warn",
            ]
            if let tls {
                line += ["--cert-file", tls.certificatePath, "--key-file", tls.keyPath]
                if let ca = tls.clientCAPath { line += ["--client-cert-auth", "--trusted-ca-file", ca] }
            }
            let pid = try ServerProcess.spawn(line, output: directory + "/etcd.out")
            process.withLock { $0 = pid }
        }

        /// Whether the process has ended (and then it is reaped and forgotten).
        fileprivate func hasEnded() -> Bool {
            guard let pid else { return true }
            guard ServerProcess.reap(pid, blocking: false) else { return false }
            process.withLock { if $0 == pid { $0 = nil } }
            return true
        }

        /// SIGTERM, then SIGKILL after 5 s; waits for the process to end.
        package func stop() async {
            guard let pid else { return }
            await ServerProcess.stop(pid, grace: .seconds(5))
            process.withLock { if $0 == pid { $0 = nil } }
        }

        /// Kills the member with SIGKILL, as a crash would, and waits for it to end.
        package func kill9() {
            guard let pid else { return }
            kill(pid, SIGKILL)
            _ = ServerProcess.reap(pid, blocking: true)
            process.withLock { if $0 == pid { $0 = nil } }
        }

        /// Freezes the member with SIGSTOP: connections stay open, nothing is answered.
        package func pause() {
            if let pid { ServerProcess.freeze(pid) }
        }

        /// Lets a ``pause()``d member run again (SIGCONT).
        package func resume() {
            if let pid { kill(pid, SIGCONT) }
        }

        /// Starts the member again with its data, on the same ports.
        package func restart() async throws {
            await stop()
            try launch()
        }

        fileprivate func logTail() -> String {
            String(((try? String(contentsOfFile: directory + "/etcd.out", encoding: .utf8)) ?? "").suffix(600))
        }
    }

    /// Server TLS for the client port: certificate and key, and a CA that client certificates
    /// must chain to when clients must present one.
    package struct TLS: Sendable {
        package var certificatePath: String
        package var keyPath: String
        package var clientCAPath: String?

        package init(certificatePath: String, keyPath: String, clientCAPath: String? = nil) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.clientCAPath = clientCAPath
        }
    }

    package let members: [Member]
    package let directory: String

    /// The path of `etcd`: /usr/bin/etcd, or the first on PATH.
    package static let executable: String? =
        access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : ServerProcess.findExecutable("etcd")

    /// Whether etcd tests run: when `etcd` is installed, and always under `CI=true` (where a
    /// missing server must fail the run rather than skip it).
    package static var testsEnabled: Bool {
        executable != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    private init(members: [Member], directory: String) {
        self.members = members
        self.directory = directory
    }

    /// The first member's client port (a single server's).
    package var port: Int { members[0].clientPort }

    /// `etcd3+http://` to the first member, with every other member as a further endpoint.
    package var url: String {
        let others = members.dropFirst().map(\.endpoint)
        return "etcd3+http://\(members[0].endpoint)" + (others.isEmpty ? "" : "?endpoints=" + others.joined(separator: ","))
    }

    /// Starts `size` members as one cluster and waits until every one reports itself healthy.
    package static func start(size: Int = 1, tls: TLS? = nil) async throws -> EtcdTestServer {
        guard executable != nil else { throw Failure.notInstalled }
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-etcd")
        var lastError: (any Error)?
        // A free port can be taken by someone else before etcd binds it: try a few times.
        for attempt in 0..<3 {
            var specs: [(name: String, client: Int, peer: Int)] = []
            for index in 0..<size {
                specs.append(("tooz-\(attempt)-\(index)", try ServerProcess.freePort(), try ServerProcess.freePort()))
            }
            let initialCluster = specs.map { "\($0.name)=http://127.0.0.1:\($0.peer)" }.joined(separator: ",")
            let members = try specs.map { spec -> Member in
                let memberDirectory = directory + "/" + spec.name
                try FileManager.default.createDirectory(atPath: memberDirectory, withIntermediateDirectories: true)
                return Member(
                    name: spec.name, clientPort: spec.client, peerPort: spec.peer, directory: memberDirectory, initialCluster: initialCluster, tls: tls
                )
            }
            let server = EtcdTestServer(members: members, directory: directory)
            do {
                for member in members { try member.launch() }
                try await server.waitUntilHealthy()
                return server
            } catch {
                lastError = error
                for member in members { await member.stop() }
            }
        }
        ServerProcess.removeTree(directory)
        throw lastError ?? Failure.didNotStart("no free ports")
    }

    /// Runs `body` with a fresh single member, then stops it and removes its data.
    package static func withServer<T>(tls: TLS? = nil, _ body: (EtcdTestServer) async throws -> T) async throws -> T {
        try await withCluster(size: 1, tls: tls, body)
    }

    /// Runs `body` with a fresh cluster of `size` members, then stops them and removes their data.
    package static func withCluster<T>(size: Int, tls: TLS? = nil, _ body: (EtcdTestServer) async throws -> T) async throws -> T {
        let server = try await start(size: size, tls: tls)
        do {
            let result = try await body(server)
            await server.stopAndRemove()
            return result
        } catch {
            await server.stopAndRemove()
            throw error
        }
    }

    /// Stops every member and removes the data.
    package func stopAndRemove() async {
        for member in members {
            member.resume()
            await member.stop()
        }
        ServerProcess.removeTree(directory)
    }

    /// Waits until every running member answers `/health` with `"health":"true"` (it has a
    /// leader and can serve).
    package func waitUntilHealthy() async throws {
        let limit = Duration.testPatience
        let deadline = ContinuousClock.now + limit
        var pending = members.filter { $0.pid != nil }
        while ContinuousClock.now < deadline {
            if let ended = pending.first(where: { $0.hasEnded() }) {
                throw Failure.didNotStart(ended.logTail())
            }
            // A TLS port cannot be asked in plain text: accepting a connection is enough there,
            // and the first TLS call waits for the rest.
            pending.removeAll { $0.tls == nil ? Self.isHealthy(port: $0.clientPort) : Self.accepts(port: $0.clientPort) }
            if pending.isEmpty { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure.didNotStart("no healthy answer within \(limit); " + (pending.first?.logTail() ?? ""))
    }

    /// Whether something accepts a TCP connection on 127.0.0.1:`port`.
    package static func accepts(port: Int) -> Bool { ServerProcess.acceptsConnections(port: port) }

    /// `GET /health` on 127.0.0.1:`port`, over a blocking socket with a one-second timeout.
    package static func isHealthy(port: Int) -> Bool {
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
        let request = Array("GET /health HTTP/1.0\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            reply += chunk[0..<count]
        }
        return String(decoding: reply, as: UTF8.self).contains("\"health\":\"true\"")
    }
}
