import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import Tooz
import ToozMemcached
import ToozNIO
import ToozServerTestSupport
import ToozTestKit

/// `MemcachedConnection` and `MemcachedClient` against real `memcached`s that each test starts
/// and stops itself.
@Suite("MemcachedConnection against memcached", .enabled(if: MemcachedTestServer.testsEnabled, "memcached is not installed"))
struct MemcachedConnectionServerTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func configuration(
        port: Int,
        host: String = "127.0.0.1",
        _ configure: (inout MemcachedConnectionConfiguration) -> Void = { _ in }
    ) -> MemcachedConnectionConfiguration {
        var configuration = MemcachedConnectionConfiguration(host: host, port: port)
        configure(&configuration)
        return configuration
    }

    static func connect(
        port: Int,
        host: String = "127.0.0.1",
        _ configure: (inout MemcachedConnectionConfiguration) -> Void = { _ in },
        onClose: (@Sendable () -> Void)? = nil
    ) async throws -> MemcachedConnection {
        try await MemcachedConnection.connect(configuration: configuration(port: port, host: host, configure), logger: logger, onClose: onClose)
    }

    static func connectionError(
        port: Int,
        host: String = "127.0.0.1",
        _ configure: (inout MemcachedConnectionConfiguration) -> Void = { _ in }
    ) async -> ToozError? {
        do {
            let connection = try await connect(port: port, host: host, configure)
            await connection.close()
            Issue.record("connecting to port \(port) succeeded")
            return nil
        } catch let error as ToozError {
            return error
        } catch {
            Issue.record("expected a ToozError, got \(error)")
            return nil
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: - Commands

    @Test func setGetAddAndCompareAndSwap() async throws {
        try await MemcachedTestServer.withServer { server in
            let connection = try await Self.connect(port: server.port)
            let stored = try await connection.send(try .set("k", value: Self.bytes("v1"), clientFlags: 7, ttl: 0))
            #expect(stored.status == .stored)
            let firstCAS = try #require(stored.cas)

            let read = try await connection.send(try .get("k"))
            #expect(read == MemcachedResponse(.value, value: Self.bytes("v1"), clientFlags: 7, cas: firstCAS))
            #expect(try await connection.send(try .get("missing")).status == .miss)
            let header = try await connection.send(try .get("k", value: false, clientFlags: false))
            #expect(header == MemcachedResponse(.stored, cas: firstCAS))

            // add: only the first of two stores.
            #expect(try await connection.send(try .set("a", value: Self.bytes("x"), clientFlags: 0, ttl: 0, mode: .add)).status == .stored)
            #expect(try await connection.send(try .set("a", value: Self.bytes("y"), clientFlags: 0, ttl: 0, mode: .add)).status == .notStored)
            #expect(try await connection.send(try .set("none", value: Self.bytes("y"), clientFlags: 0, ttl: 0, mode: .replace)).status == .notStored)
            #expect(try await connection.send(try .set("a", value: Self.bytes("z"), clientFlags: 0, ttl: 0, mode: .append)).status == .stored)
            #expect(try await connection.send(try .get("a")).value == Self.bytes("xz"))

            // Compare and swap: a wrong token is refused, the right one stores and yields a new token.
            let wrong = try await connection.send(try .set("k", value: Self.bytes("v2"), clientFlags: 7, ttl: 0, compareCAS: firstCAS + 1000))
            #expect(wrong.status == .exists)
            let swapped = try await connection.send(try .set("k", value: Self.bytes("v2"), clientFlags: 8, ttl: 0, compareCAS: firstCAS))
            #expect(swapped.status == .stored)
            let secondCAS = try #require(swapped.cas)
            #expect(secondCAS != firstCAS)
            #expect(try await connection.send(try .get("k")) == MemcachedResponse(.value, value: Self.bytes("v2"), clientFlags: 8, cas: secondCAS))

            // Compare and delete.
            #expect(try await connection.send(try .delete("k", compareCAS: firstCAS)).status == .exists)
            #expect(try await connection.send(try .delete("k", compareCAS: secondCAS)).status == .stored)
            #expect(try await connection.send(try .get("k")).status == .miss)
            #expect(try await connection.send(try .delete("k")).status == .notFound)
            #expect(try await connection.send(.noop).status == .noop)
            await connection.close()
        }
    }

    @Test func incrementWithAutoCreateAndTouch() async throws {
        try await MemcachedTestServer.withServer { server in
            let connection = try await Self.connect(port: server.port)
            #expect(try await connection.send(try .increment("n")).status == .notFound)
            let created = try await connection.send(try .increment("n", initial: 10, createTTL: 60))
            #expect(created.status == .value)
            #expect(created.value == Self.bytes("10"))
            #expect(try await connection.send(try .increment("n", initial: 10, createTTL: 60)).value == Self.bytes("11"))
            #expect(try await connection.send(try .increment("n", delta: 5)).value == Self.bytes("16"))

            // Touch: an item without expiry gets one by reading it with T.
            _ = try await connection.send(try .set("t", value: Self.bytes("v"), clientFlags: 0, ttl: 0))
            #expect(try await connection.send(try .get("t", ttl: true)).ttl == -1)
            let touched = try await connection.send(try .get("t", ttl: true, touch: 100))
            #expect(touched.value == Self.bytes("v"))
            let ttl = try #require(try await connection.send(try .get("t", value: false, ttl: true)).ttl)
            #expect((1...100).contains(ttl))
            await connection.close()
        }
    }

    @Test func aServerErrorFailsOneRequestAndTheConnectionGoesOn() async throws {
        try await MemcachedTestServer.withServer { server in
            let connection = try await Self.connect(port: server.port)
            // Over memcached's default 1 MiB item size: refused, and the data is skipped by the server.
            let error = await #expect(throws: ToozError.self) {
                _ = try await connection.send(try .set("big", value: Array(repeating: 65, count: 2 * 1024 * 1024), clientFlags: 0, ttl: 0))
            }
            #expect(error?.code == .backendError)
            #expect(error?.message.contains("SERVER_ERROR") == true, "\(String(describing: error))")
            #expect(error?.message.contains("ms") == true)
            #expect(connection.isActive)
            #expect(try await connection.send(try .set("small", value: Self.bytes("ok"), clientFlags: 0, ttl: 0)).status == .stored)
            #expect(try await connection.send(try .get("small")).value == Self.bytes("ok"))

            // A CLIENT_ERROR (incrementing a non-number) fails that request only, too.
            let clientError = await #expect(throws: ToozError.self) { _ = try await connection.send(try .increment("small")) }
            #expect(clientError?.code == .backendError)
            #expect(clientError?.message.contains("CLIENT_ERROR") == true, "\(String(describing: clientError))")
            #expect(try await connection.send(.noop).status == .noop)
            await connection.close()
        }
    }

    // MARK: - Pipelining

    @Test func aThousandPipelinedRequestsFromTenTasks() async throws {
        try await MemcachedTestServer.withServer { server in
            let connection = try await Self.connect(port: server.port)
            #expect(try await connection.send(try .set("counter", value: Self.bytes("0"), clientFlags: 0, ttl: 0)).status == .stored)
            let increment = try MemcachedRequest.increment("counter")
            let perTask = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        var seen: [Int] = []
                        for _ in 0..<4 {
                            let replies = try await connection.send(Array(repeating: increment, count: 25))
                            seen += replies.map { Int(String(decoding: $0.value ?? [], as: UTF8.self)) ?? -1 }
                        }
                        return seen
                    }
                }
                var all: [[Int]] = []
                for try await values in group { all.append(values) }
                return all
            }
            for values in perTask {
                #expect(values.count == 100)
                #expect(values == values.sorted(), "replies of one task out of order")
            }
            #expect(perTask.flatMap { $0 }.sorted() == Array(1...1000))
            await connection.close()
        }
    }

    @Test func aBatchOfFiftyGetsInOneWrite() async throws {
        try await MemcachedTestServer.withServer { server in
            let connection = try await Self.connect(port: server.port)
            // Every third key is left out, so hits and misses interleave.
            let sets = try (0..<50).filter { $0 % 3 != 0 }.map {
                try MemcachedRequest.set("key-\($0)", value: Self.bytes("value-\($0)"), clientFlags: UInt32($0), ttl: 0)
            }
            #expect(try await connection.send(sets).allSatisfy { $0.status == .stored })
            let replies = try await connection.send(try (0..<50).map { try MemcachedRequest.get("key-\($0)") })
            #expect(replies.count == 50)
            for (index, reply) in replies.enumerated() {
                if index % 3 == 0 {
                    #expect(reply.status == .miss, "key-\(index)")
                } else {
                    #expect(reply.value == Self.bytes("value-\(index)"), "key-\(index)")
                    #expect(reply.clientFlags == UInt32(index))
                }
            }
            #expect(try await connection.send([]).isEmpty)
            await connection.close()
        }
    }

    // MARK: - Faults

    @Test func killingTheServerFailsEveryRequestInFlight() async throws {
        try await MemcachedTestServer.withServer { server in
            let closes = Tally()
            // A long command timeout, so that only the kill can fail the requests.
            let connection = try await Self.connect(port: server.port, { $0.commandTimeout = .seconds(120) }, onClose: { closes.add() })
            // Frozen, the server leaves every request unanswered until it is killed.
            server.pause()
            let started = Tally()
            let outcomes = try await withDeadline("20 requests after kill -9") {
                try await withThrowingTaskGroup(of: ToozError?.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            started.add()
                            do {
                                _ = try await connection.send(try .get("key-\(index)"))
                                return nil
                            } catch let error as ToozError {
                                return error
                            }
                        }
                    }
                    try await eventually("20 requests started") { started.count == 20 }
                    await server.kill9()
                    var outcomes: [ToozError?] = []
                    for try await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
            }
            #expect(outcomes.count == 20)
            #expect(outcomes.allSatisfy { $0?.code == .connectionFailed }, "\(outcomes)")
            #expect(outcomes.compactMap { $0 }.allSatisfy { $0.message.contains("127.0.0.1:\(server.port)") })
            try await eventually("onClose") { closes.count > 0 }
            #expect(closes.count == 1)
            #expect(!connection.isActive)

            // The same server comes back on the same port, and a new connection works.
            try await server.restart()
            let again = try await Self.connect(port: server.port)
            #expect(try await again.send(.noop).status == .noop)
            await again.close()
        }
    }

    @Test func aClosedPortFailsClearly() async throws {
        let port = try ServerProcess.freePort()
        let error = try await withDeadline("connecting to a closed port") {
            await Self.connectionError(port: port)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("cannot connect to memcached at 127.0.0.1:\(port)") == true, "\(String(describing: error))")
    }

    @Test func aServerSpeakingHTTPIsRefused() async throws {
        let listener = try await GarbageServer.start(reply: "HTTP/1.1 400 Bad Request\r\n\r\n")
        let error = try await withDeadline("connecting to an HTTP server") {
            await Self.connectionError(port: listener.port) { $0.connectTimeout = .seconds(5) }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("not a memcached ≥ 1.6 server speaking the meta protocol") == true, "\(String(describing: error))")
        #expect(error?.message.contains("HTTP/1.1") == true, "\(String(describing: error))")
        #expect(listener.connections >= 1)
        try await listener.close()
    }

    @Test func aTextProtocolOnlyServerIsRefused() async throws {
        // What memcached before 1.6 answers to a command it does not know.
        let listener = try await GarbageServer.start(reply: "ERROR\r\n")
        let error = try await withDeadline("connecting to an old memcached") {
            await Self.connectionError(port: listener.port)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("not a memcached ≥ 1.6 server speaking the meta protocol") == true, "\(String(describing: error))")
        try await listener.close()
    }

    @Test func aSilentServerTimesOutTheCheck() async throws {
        let listener = try await GarbageServer.start(reply: nil)
        let error = try await withDeadline("connecting to a silent server") {
            // The same timeout also bounds the TCP connect, so it must not be tight on a loaded machine.
            await Self.connectionError(port: listener.port) { $0.connectTimeout = .seconds(2) }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("not a memcached ≥ 1.6 server") == true, "\(String(describing: error))")
        #expect(error?.message.contains("no reply to mn within 2.0 seconds") == true, "\(String(describing: error))")
        try await listener.close()
    }

    @Test func aCommandTimeoutFailsAndClosesTheConnection() async throws {
        try await MemcachedTestServer.withServer { server in
            let closes = Tally()
            let connection = try await Self.connect(port: server.port, { $0.commandTimeout = .milliseconds(500) }, onClose: { closes.add() })
            server.pause()
            defer { server.resume() }
            let error = await #expect(throws: ToozError.self) {
                _ = try await connection.send(try .get("k"))
            }
            #expect(error?.code == .timedOut)
            #expect(error?.message.contains("mg") == true)
            #expect(error?.message.contains("timed out") == true)
            #expect(error?.message.contains("0.5 seconds") == true, "\(String(describing: error))")
            try await eventually("the connection to close") { !connection.isActive && closes.count == 1 }
            let late = await #expect(throws: ToozError.self) { _ = try await connection.send(.noop) }
            #expect(late?.code == .connectionFailed)
        }
    }

    // MARK: - Client

    @Test func theClientReconnectsAfterARestart() async throws {
        let server = try await MemcachedTestServer.start()
        do {
            try await Self.reconnectAfterRestart(server)
        } catch {
            await server.stopAndRemove()
            throw error
        }
        await server.stopAndRemove()
    }

    static func reconnectAfterRestart(_ server: MemcachedTestServer) async throws {
        let client = MemcachedClient(configuration: Self.configuration(port: server.port), logger: Self.logger)
        #expect(client.target == "memcached at 127.0.0.1:\(server.port)")
        let drops = Tally()
        client.onConnectionClosed { drops.add() }
        try await client.connect()
        #expect(try await client.send(try .set("k", value: Self.bytes("before"), clientFlags: 0, ttl: 0)).status == .stored)

        try await server.restart()
        try await eventually("the client to notice the drop") { drops.count >= 1 }
        // Requests may fail while the server comes back; the client must work again after.
        try await eventually("the client to reconnect", toleratingErrors: true) {
            let reply = try await client.send(MemcachedRequest.noop)
            return reply.status == .noop
        }
        // A restarted memcached starts empty.
        #expect(try await client.send(try .get("k")).status == .miss)
        let store = try MemcachedRequest.set("k", value: Self.bytes("after"), clientFlags: 0, ttl: 0)
        let read = try MemcachedRequest.get("k")
        let batch = try await client.send([store, read])
        #expect(batch.map(\.status) == [.stored, .value])
        #expect(batch[1].value == Self.bytes("after"))

        await client.close()
        let closed = await #expect(throws: ToozError.self) { _ = try await client.send(.noop) }
        #expect(closed?.code == .notRunning)
    }

    @Test func theClientSurfacesTheFirstConnectionError() async throws {
        let port = try ServerProcess.freePort()
        let group = MultiThreadedEventLoopGroup.singleton
        let client = MemcachedClient(configuration: Self.configuration(port: port), eventLoopGroup: group, logger: Self.logger)
        let error = await #expect(throws: ToozError.self) { try await client.connect() }
        #expect(error?.code == .connectionFailed)
        await client.close()
    }

    @Test func theClientUsesItsOneEventLoop() async throws {
        try await MemcachedTestServer.withServer { server in
            let client = MemcachedClient(configuration: Self.configuration(port: server.port), logger: Self.logger)
            try await client.connect()
            let onLoop = try await client.eventLoop.submit { client.eventLoop.inEventLoop }.get()
            #expect(onLoop)
            // A task that prefers the loop as its executor can use the client from there.
            let executor = EventLoopTaskExecutor(eventLoop: client.eventLoop)
            let status = try await withTaskExecutorPreference(executor) {
                try await client.send(.noop).status
            }
            #expect(status == .noop)
            await client.close()
        }
    }

    // MARK: - TLS

    /// A server certificate for `localhost` only, signed by the CA of `files`: without an IP
    /// SAN, a connection to 127.0.0.1 fails the host name check (NIOSSL accepts an IP SAN that
    /// matches the peer's address whatever name it was given).
    static func makeNameOnlyCertificate(in directory: String) throws -> MemcachedTestServer.TLS {
        func path(_ name: String) -> String { directory + "/" + name }
        try "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: path("named.ext"), atomically: true, encoding: .utf8)
        try RedisTestServer.run(
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("named.key"), "-out", path("named.csr"), "-subj", "/CN=localhost"],
            in: directory
        )
        try RedisTestServer.run(
            ["openssl", "x509", "-req", "-in", path("named.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
             "-CAcreateserial", "-out", path("named.crt"), "-days", "2", "-extfile", path("named.ext")],
            in: directory
        )
        return MemcachedTestServer.TLS(certificatePath: path("named.crt"), keyPath: path("named.key"))
    }

    @Test func tlsWithTheCASucceedsAndWithoutItFailsClearly() async throws {
        let directory = try ServerProcess.makeTemporaryDirectory(prefix: "tooz-mc-tls")
        defer { ServerProcess.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        let tls = try Self.makeNameOnlyCertificate(in: directory)
        try await MemcachedTestServer.withServer(tls: tls) { server in
            let trusted = MemcachedTLSConfiguration(caCertificatesPath: files.caCertificatePath)
            let connection = try await Self.connect(port: server.port, host: "localhost") { $0.tls = trusted }
            #expect(try await connection.send(try .set("secure", value: Self.bytes("yes"), clientFlags: 0, ttl: 0)).status == .stored)
            #expect(try await connection.send(try .get("secure")).value == Self.bytes("yes"))
            await connection.close()

            // By address, the certificate (for localhost only) does not match...
            let misnamed = await Self.connectionError(port: server.port) { $0.tls = trusted }
            #expect(misnamed?.code == .connectionFailed)
            #expect(misnamed.map { String(describing: $0) }?.contains("ailedToValidateHostname") == true, "\(String(describing: misnamed))")
            // ...and passes only with the host name check off, or with the right name to check.
            let unverifiedName = try await Self.connect(port: server.port) {
                $0.tls = MemcachedTLSConfiguration(caCertificatesPath: files.caCertificatePath, verifiesHostname: false)
            }
            #expect(try await unverifiedName.send(.noop).status == .noop)
            await unverifiedName.close()
            let renamed = try await Self.connect(port: server.port) {
                $0.tls = MemcachedTLSConfiguration(caCertificatesPath: files.caCertificatePath, serverHostname: "localhost")
            }
            #expect(try await renamed.send(.noop).status == .noop)
            await renamed.close()

            // Without the CA, the server's certificate is not trusted.
            let untrusted = await Self.connectionError(port: server.port, host: "localhost") { $0.tls = MemcachedTLSConfiguration() }
            #expect(untrusted?.code == .connectionFailed)
            #expect(
                untrusted.map { String(describing: $0) }?.contains("CERTIFICATE_VERIFY_FAILED") == true,
                "\(String(describing: untrusted))"
            )
            // Plain text to a TLS port is no memcached conversation either.
            let plain = await Self.connectionError(port: server.port) { $0.connectTimeout = .seconds(2) }
            #expect(plain?.code == .connectionFailed)
        }
    }

    @Test func unreadableTLSFilesAreAConfigurationError() async throws {
        let error = await Self.connectionError(port: 1) {
            $0.tls = MemcachedTLSConfiguration(caCertificatesPath: "/nonexistent/ca.pem")
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
        let password = MemcachedTLSConfiguration(certificatePath: "/c.pem", privateKeyPath: "/k.pem", privateKeyPassword: "hunter2")
        #expect(!String(describing: password).contains("hunter2"))
        var dumped = ""
        dump(password, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }
}
