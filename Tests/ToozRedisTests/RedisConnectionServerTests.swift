import ToozServerTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import Tooz
import ToozRedis
import ToozTestKit

/// `RedisConnection` against real `redis-server`s that each test starts and stops itself.
@Suite("RedisConnection against redis-server", .enabled(if: RedisTestServer.testsEnabled, "redis-server is not on PATH"))
struct RedisConnectionServerTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func connect(
        _ endpoint: RedisEndpoint,
        _ configure: (inout RedisConnectionConfiguration) -> Void = { _ in },
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws -> RedisConnection {
        var configuration = RedisConnectionConfiguration()
        configure(&configuration)
        return try await RedisConnection.connect(to: endpoint, configuration: configuration, logger: logger, onMessage: onMessage, onClose: onClose)
    }

    static func connectionError(
        _ endpoint: RedisEndpoint,
        _ configure: (inout RedisConnectionConfiguration) -> Void = { _ in }
    ) async -> ToozError? {
        do {
            let connection = try await connect(endpoint, configure)
            await connection.close()
            Issue.record("connecting to \(endpoint) succeeded")
            return nil
        } catch let error as ToozError {
            return error
        } catch {
            Issue.record("expected a ToozError, got \(error)")
            return nil
        }
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    // MARK: - Round trips

    @Test func pingSetGetOverTCP() async throws {
        try await RedisTestServer.withServer { server in
            let connection = try await Self.connect(server.endpoint)
            #expect(connection.protocolVersion == 3)
            #expect(connection.serverVersion?.isEmpty == false)
            #expect(try await connection.send(RedisCommand("PING")).string == "PONG")
            #expect(try await connection.send(RedisCommand("SET", "greeting", "hello")).string == "OK")
            #expect(try await connection.send(RedisCommand("GET", "greeting")) == Self.bulk("hello"))
            #expect(try await connection.send(RedisCommand("GET", "missing")) == .null)
            let error = try await connection.send(RedisCommand("INCR", "greeting"))
            #expect(error.errorMessage?.hasPrefix("ERR") == true)
            await connection.close()
        }
    }

    @Test func pingSetGetOverTheUnixSocket() async throws {
        try await RedisTestServer.withServer { server in
            let connection = try await Self.connect(server.unixEndpoint) { $0.clientName = "tooz-unix" }
            #expect(try await connection.send(RedisCommand("PING")).string == "PONG")
            #expect(try await connection.send(RedisCommand("SET", "k", "over the socket")).string == "OK")
            #expect(try await connection.send(RedisCommand("GET", "k")) == Self.bulk("over the socket"))
            #expect(try await connection.send(RedisCommand("CLIENT GETNAME")) == Self.bulk("tooz-unix"))
            #expect(connection.endpoint.description == server.unixSocketPath)
            await connection.close()
        }
    }

    @Test func aThousandPipelinedIncrementsFromTenTasks() async throws {
        try await RedisTestServer.withServer { server in
            let connection = try await Self.connect(server.endpoint)
            let perTask = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        var seen: [Int64] = []
                        for _ in 0..<4 {
                            let replies = try await connection.send(Array(repeating: RedisCommand("INCR", "counter"), count: 25))
                            for reply in replies {
                                guard case .integer(let value) = reply else {
                                    Issue.record("INCR answered \(reply)")
                                    continue
                                }
                                seen.append(value)
                            }
                        }
                        return seen
                    }
                }
                var all: [[Int64]] = []
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

    // MARK: - Authentication and database

    @Test func authenticatesWithAPassword() async throws {
        try await RedisTestServer.withServer(arguments: ["--requirepass", "open sesame"]) { server in
            let connection = try await Self.connect(server.endpoint) { $0.password = "open sesame" }
            #expect(try await connection.send(RedisCommand("PING")).string == "PONG")
            await connection.close()

            let wrong = await Self.connectionError(server.endpoint) { $0.password = "not-the-password" }
            #expect(wrong?.code == .connectionFailed)
            #expect(wrong?.message.contains("authentication failed") == true)
            #expect(wrong.map { String(describing: $0) }?.contains("not-the-password") == false)

            let missing = await Self.connectionError(server.endpoint)
            #expect(missing?.code == .connectionFailed)
            #expect(missing?.message.contains("requires a password") == true)
        }
    }

    @Test func authenticatesWithAUsernameAndPassword() async throws {
        try await RedisTestServer.withServer(arguments: ["--user", "app", "on", ">app-secret", "~*", "&*", "+@all"]) { server in
            let connection = try await Self.connect(server.endpoint) {
                $0.username = "app"
                $0.password = "app-secret"
            }
            #expect(try await connection.send(RedisCommand("ACL WHOAMI")).string == "app")
            await connection.close()

            let wrong = await Self.connectionError(server.endpoint) {
                $0.username = "app"
                $0.password = "app-wrong"
            }
            #expect(wrong?.code == .connectionFailed)
            #expect(wrong?.message.contains("authentication failed") == true)
            #expect(wrong.map { String(describing: $0) }?.contains("app-wrong") == false)
        }
    }

    @Test func theDatabaseIsSelected() async throws {
        try await RedisTestServer.withServer { server in
            let three = try await Self.connect(server.endpoint) { $0.database = 3 }
            let zero = try await Self.connect(server.endpoint)
            #expect(try await three.send(RedisCommand("SET", "where", "db3")).string == "OK")
            #expect(try await zero.send(RedisCommand("GET", "where")) == .null)
            #expect(try await three.send(RedisCommand("GET", "where")) == Self.bulk("db3"))
            #expect(try await zero.send(RedisCommand("SELECT", 3)).string == "OK")
            #expect(try await zero.send(RedisCommand("GET", "where")) == Self.bulk("db3"))
            await three.close()
            await zero.close()

            let outOfRange = await Self.connectionError(server.endpoint) { $0.database = 500 }
            #expect(outOfRange?.code == .connectionFailed)
            #expect(outOfRange?.message.contains("SELECT 500") == true)
        }
    }

    // MARK: - TLS

    @Test func tlsWithTheCAAndAClientCertificate() async throws {
        let directory = try RedisTestServer.makeTemporaryDirectory()
        defer { RedisTestServer.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        try await RedisTestServer.withServer(tls: files.serverTLS(authClients: "yes")) { server in
            let trusted = RedisTLSConfiguration(
                caCertificatesPath: files.caCertificatePath,
                certificatePath: files.clientCertificatePath,
                privateKeyPath: files.clientKeyPath
            )
            let connection = try await Self.connect(server.endpoint) { $0.tls = trusted }
            #expect(try await connection.send(RedisCommand("SET", "secure", "yes")).string == "OK")
            #expect(try await connection.send(RedisCommand("GET", "secure")) == Self.bulk("yes"))
            await connection.close()

            // By name: the certificate's DNS SAN is checked.
            let byName = try await Self.connect(.tcp(host: "localhost", port: server.port)) { $0.tls = trusted }
            #expect(try await byName.send(RedisCommand("PING")).string == "PONG")
            await byName.close()

            // Without the CA, the server's certificate is not trusted.
            let untrusted = await Self.connectionError(server.endpoint) {
                $0.tls = RedisTLSConfiguration(certificatePath: files.clientCertificatePath, privateKeyPath: files.clientKeyPath)
            }
            #expect(untrusted?.code == .connectionFailed)
            #expect(untrusted.map { String(describing: $0) }?.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(String(describing: untrusted))")

            // Without a client certificate, the server refuses us.
            let anonymous = await Self.connectionError(server.endpoint) {
                $0.tls = RedisTLSConfiguration(caCertificatesPath: files.caCertificatePath)
            }
            #expect(anonymous?.code == .connectionFailed)

            // Plain text to a TLS port is no Redis conversation either.
            let plain = await Self.connectionError(server.endpoint) { $0.connectTimeout = .seconds(2) }
            #expect(plain?.code == .connectionFailed)
        }
    }

    @Test func tlsWithOptionalClientCertificates() async throws {
        let directory = try RedisTestServer.makeTemporaryDirectory()
        defer { RedisTestServer.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        try await RedisTestServer.withServer(tls: files.serverTLS(authClients: "optional")) { server in
            let connection = try await Self.connect(server.endpoint) {
                $0.tls = RedisTLSConfiguration(caCertificatesPath: files.caCertificatePath)
            }
            #expect(try await connection.send(RedisCommand("PING")).string == "PONG")
            await connection.close()
        }
    }

    @Test func unreadableTLSFilesAreAConfigurationError() async throws {
        let error = await Self.connectionError(.tcp(host: "127.0.0.1", port: 1)) {
            $0.tls = RedisTLSConfiguration(caCertificatesPath: "/nonexistent/ca.pem")
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("ssl_ca_certs /nonexistent/ca.pem") == true)
    }

    // MARK: - Pub/sub

    @Test func publishedMessagesArriveAndCommandsStillWork() async throws {
        try await RedisTestServer.withServer { server in
            let (messages, continuation) = AsyncStream.makeStream(of: RedisPubSubMessage.self)
            let subscriber = try await Self.connect(server.endpoint, onMessage: { continuation.yield($0) })
            let publisher = try await Self.connect(server.endpoint)
            try await subscriber.subscribe(["tooz-news", "tooz-other"])

            #expect(try await publisher.send(RedisCommand("PUBLISH", "tooz-news", ByteBuffer(bytes: [0, 1, 2, 255]))) == .integer(1))
            // RESP3: the subscribed connection still runs ordinary commands.
            #expect(try await subscriber.send(RedisCommand("SET", "k", "v")).string == "OK")
            #expect(try await subscriber.send(RedisCommand("GET", "k")) == Self.bulk("v"))
            #expect(try await publisher.send(RedisCommand("PUBLISH", "tooz-other", "second")) == .integer(1))

            let received = try await withDeadline("two messages") {
                var received: [RedisPubSubMessage] = []
                for await message in messages {
                    received.append(message)
                    if received.count == 2 { break }
                }
                return received
            }
            #expect(
                received == [
                    RedisPubSubMessage(channel: "tooz-news", payload: ByteBuffer(bytes: [0, 1, 2, 255])),
                    RedisPubSubMessage(channel: "tooz-other", payload: ByteBuffer(string: "second")),
                ]
            )

            try await subscriber.unsubscribe(["tooz-news"])
            #expect(try await publisher.send(RedisCommand("PUBLISH", "tooz-news", "unheard")) == .integer(0))
            continuation.finish()
            await subscriber.close()
            await publisher.close()
        }
    }

    // MARK: - Faults

    @Test func killingTheServerFailsEveryRequestInFlight() async throws {
        try await RedisTestServer.withServer { server in
            let closes = Tally()
            // A long command timeout, so that only the kill can fail the requests.
            let connection = try await Self.connect(server.endpoint, { $0.commandTimeout = .seconds(60) }, onClose: { closes.add() })
            let observer = try await Self.connect(server.unixEndpoint)
            let started = Tally()

            let outcomes = try await withDeadline("20 requests after kill -9") {
                try await withThrowingTaskGroup(of: ToozError?.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            started.add()
                            do {
                                // BLPOP on a missing key blocks the connection, so everything queues behind it.
                                _ = try await connection.send(RedisCommand("BLPOP", "tooz-missing-\(index)", 0))
                                return nil
                            } catch let error as ToozError {
                                return error
                            }
                        }
                    }
                    // Kill only once a request blocks the server side of the connection.
                    while true {
                        let info = try await observer.send(RedisCommand("INFO", "clients")).string ?? ""
                        if started.count == 20, info.contains("blocked_clients:1") { break }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    await server.kill9()
                    var outcomes: [ToozError?] = []
                    for try await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
            }
            #expect(outcomes.count == 20)
            #expect(outcomes.allSatisfy { $0?.code == .connectionFailed })
            #expect(outcomes.compactMap { $0 }.allSatisfy { $0.message.contains("127.0.0.1:\(server.port)") })
            try await withDeadline("onClose") {
                while closes.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(closes.count == 1)
            #expect(!connection.isActive)
            await observer.close()

            // The same server comes back on the same port, and a new connection works.
            try await server.restart()
            let again = try await Self.connect(server.endpoint)
            #expect(try await again.send(RedisCommand("PING")).string == "PONG")
            await again.close()
        }
    }

    @Test func aClosedPortFailsQuickly() async throws {
        let port = try RedisTestServer.freePort()
        let error = try await withDeadline("connecting to a closed port") {
            await Self.connectionError(.tcp(host: "127.0.0.1", port: port))
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
    }

    @Test func aServerSpeakingHTTPIsRefused() async throws {
        let listener = try await GarbageServer.start(reply: "HTTP/1.1 400 Bad Request\r\n\r\n")
        let error = try await withDeadline("connecting to an HTTP server") {
            await Self.connectionError(.tcp(host: "127.0.0.1", port: listener.port))
        }
        #expect(error?.code == .connectionFailed)
        #expect(listener.connections >= 1)
        try await listener.close()
    }

    @Test func aSilentServerTimesOutTheHandshake() async throws {
        let listener = try await GarbageServer.start(reply: nil)
        let error = try await withDeadline("connecting to a silent server") {
            // The same timeout also bounds the TCP connect: with 300 ms, a loaded machine's run
            // failed with an error that did not name HELLO, most likely a connect timeout.
            await Self.connectionError(.tcp(host: "127.0.0.1", port: listener.port)) { $0.connectTimeout = .seconds(2) }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("HELLO") == true, "\(String(describing: error))")
        #expect(error?.message.contains("timed out") == true, "\(String(describing: error))")
        try await listener.close()
    }

    @Test func aCommandTimeoutFailsAndClosesTheConnection() async throws {
        try await RedisTestServer.withServer { server in
            let closes = Tally()
            let connection = try await Self.connect(server.endpoint, { $0.commandTimeout = .milliseconds(300) }, onClose: { closes.add() })
            let error = await #expect(throws: ToozError.self) {
                _ = try await connection.send(RedisCommand("DEBUG", "SLEEP", 2))
            }
            #expect(error?.code == .connectionFailed)
            #expect(error?.message.contains("DEBUG") == true)
            #expect(error?.message.contains("timed out") == true)
            #expect(error?.message.contains("0.3 seconds") == true)
            try await withDeadline("the connection to close") {
                while connection.isActive || closes.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            let late = await #expect(throws: ToozError.self) { _ = try await connection.send(RedisCommand("PING")) }
            #expect(late?.code == .connectionFailed)
        }
    }

    @Test func closeIsIdempotentAndNotifiesOnce() async throws {
        try await RedisTestServer.withServer { server in
            let closes = Tally()
            let connection = try await Self.connect(server.endpoint, onClose: { closes.add() })
            #expect(connection.isActive)
            await connection.close()
            await connection.close()
            #expect(!connection.isActive)
            #expect(closes.count == 1)
            let error = await #expect(throws: ToozError.self) { _ = try await connection.send(RedisCommand("PING")) }
            #expect(error?.code == .connectionFailed)
            #expect(error?.message.contains("PING") == true)
        }
    }
}
