import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import Tooz
import ToozRedis

/// The handler and the handshake against a scripted server on `NIOAsyncTestingChannel`.
@Suite("RedisChannelHandler")
struct RedisChannelHandlerTests {
    static let endpoint = RedisEndpoint.tcp(host: "127.0.0.1", port: 6379)
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// What the scripted side saw happen to the connection.
    final class Events: Sendable {
        let messages = Mutex<[RedisPubSubMessage]>([])
        let invalidations = Mutex<[RedisInvalidation]>([])
        let closes = Mutex(0)
    }

    static func command(_ parts: String...) -> ByteBuffer {
        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand(parts, into: &buffer)
        return buffer
    }

    static func wire(_ values: RESPValue...) -> ByteBuffer {
        var buffer = ByteBuffer()
        for value in values { RESPEncoder.encode(value, into: &buffer) }
        return buffer
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
    static func simple(_ text: String) -> RESPValue { .simpleString(ByteBuffer(string: text)) }
    static func error(_ text: String) -> RESPValue { .simpleError(ByteBuffer(string: text)) }

    static let helloReply = RESPValue.map([
        RESPMapEntry(key: bulk("server"), value: bulk("redis")),
        RESPMapEntry(key: bulk("version"), value: bulk("7.0.15")),
        RESPMapEntry(key: bulk("proto"), value: .integer(3)),
        RESPMapEntry(key: bulk("id"), value: .integer(5)),
        RESPMapEntry(key: bulk("mode"), value: bulk("standalone")),
        RESPMapEntry(key: bulk("role"), value: bulk("master")),
        RESPMapEntry(key: bulk("modules"), value: .array([])),
    ])

    static func makeChannel() async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        return channel
    }

    /// Everything written since the last call, as one buffer.
    static func written(_ channel: NIOAsyncTestingChannel, writes: Int = 1) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for _ in 0..<writes {
            var next = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            all.writeBuffer(&next)
        }
        return all
    }

    /// Runs the handshake against `script` (expected bytes → reply) and returns the connection.
    static func connect(
        _ channel: NIOAsyncTestingChannel,
        configuration: RedisConnectionConfiguration = RedisConnectionConfiguration(),
        events: Events = Events(),
        script: [(expect: ByteBuffer, reply: ByteBuffer)]
    ) async throws -> RedisConnection {
        async let connection = RedisConnection.connect(
            over: channel,
            endpoint: endpoint,
            configuration: configuration,
            logger: logger,
            onMessage: { message in events.messages.withLock { $0.append(message) } },
            onInvalidation: { invalidation in events.invalidations.withLock { $0.append(invalidation) } },
            onClose: { events.closes.withLock { $0 += 1 } }
        )
        for step in script {
            let request = try await written(channel)
            #expect(request == step.expect, "expected \(String(buffer: step.expect).debugDescription), got \(String(buffer: request).debugDescription)")
            try await channel.writeInbound(step.reply)
        }
        return try await connection
    }

    static func connected(events: Events = Events()) async throws -> (NIOAsyncTestingChannel, RedisConnection) {
        let channel = try await makeChannel()
        let connection = try await connect(channel, events: events, script: [(command("HELLO", "3"), wire(helloReply))])
        return (channel, connection)
    }

    // MARK: - Handshake

    @Test func helloNegotiatesRESP3WithCredentialsAndName() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.username = "app"
        configuration.password = "s3cret"
        configuration.clientName = "swift-tooz"
        configuration.database = 3
        let connection = try await Self.connect(
            channel,
            configuration: configuration,
            script: [
                (Self.command("HELLO", "3", "AUTH", "app", "s3cret", "SETNAME", "swift-tooz"), Self.wire(Self.helloReply)),
                (Self.command("SELECT", "3"), Self.wire(Self.simple("OK"))),
            ]
        )
        #expect(connection.protocolVersion == 3)
        #expect(connection.serverVersion == "7.0.15")
        #expect(connection.endpoint == Self.endpoint)
        #expect(connection.isActive)
        await connection.close()
    }

    @Test func withoutHelloItFallsBackToAuthAndRESP2() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.password = "s3cret"
        configuration.clientName = "worker"
        let connection = try await Self.connect(
            channel,
            configuration: configuration,
            script: [
                (Self.command("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "worker"), Self.wire(Self.error("ERR unknown command 'HELLO'"))),
                (Self.command("AUTH", "s3cret"), Self.wire(Self.simple("OK"))),
                (Self.command("CLIENT", "SETNAME", "worker"), Self.wire(Self.simple("OK"))),
                (Self.command("PING"), Self.wire(Self.simple("PONG"))),
            ]
        )
        #expect(connection.protocolVersion == 2)
        #expect(connection.serverVersion == nil)
        await connection.close()
    }

    @Test func noProtoFallsBackWithUsernameAndPassword() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.username = "app"
        configuration.password = "pw"
        let connection = try await Self.connect(
            channel,
            configuration: configuration,
            script: [
                (Self.command("HELLO", "3", "AUTH", "app", "pw"), Self.wire(Self.error("NOPROTO unsupported protocol version"))),
                (Self.command("AUTH", "app", "pw"), Self.wire(Self.simple("OK"))),
                (Self.command("PING"), Self.wire(Self.simple("PONG"))),
            ]
        )
        #expect(connection.protocolVersion == 2)
        await connection.close()
    }

    @Test func aWrongPasswordIsAnAuthenticationFailureWithoutThePassword() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.password = "hunter2"
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(
                channel,
                configuration: configuration,
                script: [
                    (
                        Self.command("HELLO", "3", "AUTH", "default", "hunter2"),
                        Self.wire(Self.error("WRONGPASS invalid username-password pair or user is disabled."))
                    )
                ]
            )
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("authentication failed") == true)
        #expect(error?.message.contains("127.0.0.1:6379") == true)
        #expect(error.map { String(describing: $0) }?.contains("hunter2") == false)
        #expect(!channel.isActive)
    }

    @Test func aServerErrorQuotingThePasswordIsRedacted() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.password = "hunter2"
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(
                channel,
                configuration: configuration,
                script: [
                    (
                        Self.command("HELLO", "3", "AUTH", "default", "hunter2"),
                        Self.wire(Self.error("ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'default' 'hunter2'"))
                    ),
                    (Self.command("AUTH", "hunter2"), Self.wire(Self.error("ERR invalid password 'hunter2'"))),
                ]
            )
        }
        #expect(error?.message.contains("authentication failed") == true)
        #expect(error.map { String(describing: $0) }?.contains("hunter2") == false)
    }

    @Test func aMissingPasswordIsReportedAsSuch() async throws {
        let channel = try await Self.makeChannel()
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(
                channel,
                script: [(Self.command("HELLO", "3"), Self.wire(Self.error("NOAUTH HELLO must be called with the client already authenticated")))]
            )
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("requires a password") == true)
    }

    @Test func aRefusedDatabaseFailsTheConnection() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.database = 99
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(
                channel,
                configuration: configuration,
                script: [
                    (Self.command("HELLO", "3"), Self.wire(Self.helloReply)),
                    (Self.command("SELECT", "99"), Self.wire(Self.error("ERR DB index is out of range"))),
                ]
            )
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("SELECT 99") == true)
        #expect(!channel.isActive)
    }

    @Test func anHTTPServerIsNotTakenForRedis() async throws {
        let channel = try await Self.makeChannel()
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(
                channel,
                script: [(Self.command("HELLO", "3"), ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n"))]
            )
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("malformed") == true)
        #expect(!channel.isActive)
    }

    @Test func aServerAnsweringOKToEverythingIsNotTakenForRedis() async throws {
        let channel = try await Self.makeChannel()
        let error = await #expect(throws: ToozError.self) {
            _ = try await Self.connect(channel, script: [(Self.command("HELLO", "3"), Self.wire(Self.simple("OK")))])
        }
        #expect(error?.message.contains("like a Redis server") == true)
        #expect(!channel.isActive)
    }

    // MARK: - Descriptions

    @Test func theConfigurationNeverShowsThePassword() {
        var configuration = RedisConnectionConfiguration()
        configuration.username = "app"
        configuration.password = "hunter2"
        configuration.database = 2
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [String(describing: configuration), String(reflecting: configuration), dumped] {
            #expect(!text.contains("hunter2"))
            #expect(text.contains("<redacted>"))
            #expect(text.contains("app"))
        }
    }

    @Test func endpointsDescribeThemselvesForMessages() {
        #expect(RedisEndpoint.tcp(host: "redis.local", port: 6380).description == "redis.local:6380")
        #expect(RedisEndpoint.tcp(host: "::1", port: 6379).description == "[::1]:6379")
        #expect(RedisEndpoint.unixSocket(path: "/run/redis/redis.sock").description == "/run/redis/redis.sock")
    }

    // MARK: - Commands

    @Test func aCommandIsWrittenExactlyAndItsReplyMayArriveByteByByte() async throws {
        let (channel, connection) = try await Self.connected()
        async let reply = connection.send(RedisCommand("GET", "key"))
        #expect(try await Self.written(channel) == ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"))
        for byte in ByteBuffer(string: "$5\r\nhello\r\n").readableBytesView {
            try await channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try await reply == Self.bulk("hello"))
        await connection.close()
    }

    @Test func multiWordNamesAndMixedArgumentsAreEncoded() async throws {
        let (channel, connection) = try await Self.connected()
        let command = RedisCommand("SET", "k", ByteBuffer(string: "v"), "NX", "PX", 30_000)
        #expect(command.name == "SET")
        async let reply = connection.send(command)
        #expect(try await Self.written(channel) == Self.command("SET", "k", "v", "NX", "PX", "30000"))
        try await channel.writeInbound(Self.wire(.null))
        #expect(try await reply == .null)

        let load = RedisCommand("SCRIPT LOAD", "return 1")
        #expect(load.name == "SCRIPT LOAD")
        async let sha = connection.send(load)
        #expect(try await Self.written(channel) == Self.command("SCRIPT", "LOAD", "return 1"))
        try await channel.writeInbound(Self.wire(Self.bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")))
        #expect(try await sha.string == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        await connection.close()
    }

    @Test func aPipelineIsWrittenInOrderAndCoalescedRepliesAreSplit() async throws {
        let (channel, connection) = try await Self.connected()
        async let replies = connection.send([RedisCommand("INCR", "n"), RedisCommand("GET", "missing"), RedisCommand("EVALSHA", "abc", 0)])
        let expected = [Self.command("INCR", "n"), Self.command("GET", "missing"), Self.command("EVALSHA", "abc", "0")]
        var all = ByteBuffer()
        for var part in expected { all.writeBuffer(&part) }
        #expect(try await Self.written(channel, writes: 3) == all)
        try await channel.writeInbound(Self.wire(.integer(1), .null, Self.error("NOSCRIPT No matching script")))
        let values = try await replies
        #expect(values == [.integer(1), .null, Self.error("NOSCRIPT No matching script")])
        #expect(values[2].errorMessage == "NOSCRIPT No matching script")
        await connection.close()
    }

    @Test func concurrentSendersGetTheirOwnReplies() async throws {
        let (channel, connection) = try await Self.connected()
        try await withThrowingTaskGroup(of: (String, RESPValue).self) { group in
            for key in ["a", "b", "c", "d"] {
                group.addTask { (key, try await connection.send(RedisCommand("GET", key))) }
            }
            // Answer each request with its own key, in the order they were written.
            for _ in 0..<4 {
                let request = try await Self.written(channel)
                let text = String(buffer: request)
                let key = String(text.split(separator: "\r\n").last ?? "")
                try await channel.writeInbound(Self.wire(Self.bulk("value-" + key)))
            }
            for try await (key, value) in group {
                #expect(value == Self.bulk("value-" + key))
            }
        }
        await connection.close()
    }

    @Test func aGarbledReplyFailsEverythingInFlightAndCloses() async throws {
        let events = Events()
        let (channel, connection) = try await Self.connected(events: events)
        let first = Task { try await connection.send(RedisCommand("GET", "a")) }
        let second = Task { try await connection.send(RedisCommand("GET", "b")) }
        _ = try await Self.written(channel, writes: 2)
        try await channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        let errors = [await Self.failure(of: first), await Self.failure(of: second)]
        for error in errors {
            #expect(error?.code == .connectionFailed)
            #expect(error?.message.contains("malformed") == true)
        }
        #expect(!channel.isActive)
        #expect(!connection.isActive)
        #expect(events.closes.withLock { $0 } == 1)
        // Later requests fail at once.
        let late = await #expect(throws: ToozError.self) { try await connection.send(RedisCommand("PING")) }
        #expect(late?.code == .connectionFailed)
    }

    @Test func anOversizedReplyFailsTheRequestAndCloses() async throws {
        let channel = try await Self.makeChannel()
        var configuration = RedisConnectionConfiguration()
        configuration.decoderLimits.maximumBulkLength = 16
        let connection = try await Self.connect(channel, configuration: configuration, script: [(Self.command("HELLO", "3"), Self.wire(Self.helloReply))])
        let reply = Task { try await connection.send(RedisCommand("GET", "big")) }
        _ = try await Self.written(channel)
        try await channel.writeInbound(ByteBuffer(string: "$1000000\r\n"))
        let error = await Self.failure(of: reply)
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("exceeds") == true)
        #expect(!channel.isActive)
    }

    @Test func aTimeoutFailsTheRequestAndClosesTheConnection() async throws {
        let events = Events()
        let (channel, connection) = try await Self.connected(events: events)
        var slow = RedisCommand("DEBUG", "SLEEP", 2)
        slow.timeout = .milliseconds(300)
        let reply = Task { try await connection.send(slow) }
        _ = try await Self.written(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(299))
        #expect(channel.isActive)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(1))
        let error = await Self.failure(of: reply)
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("DEBUG") == true)
        #expect(error?.message.contains("timed out") == true)
        #expect(!channel.isActive)
        #expect(events.closes.withLock { $0 } == 1)
    }

    @Test func closeFailsRequestsInFlightAndNotifiesOnce() async throws {
        let events = Events()
        let (channel, connection) = try await Self.connected(events: events)
        let reply = Task { try await connection.send(RedisCommand("BLPOP", "queue", 0)) }
        _ = try await Self.written(channel)
        await connection.close()
        let error = await Self.failure(of: reply)
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("BLPOP") == true)
        #expect(!connection.isActive)
        await connection.close()
        #expect(events.closes.withLock { $0 } == 1)
    }

    @Test func pushMessagesGoToTheSubscriberNotToARequest() async throws {
        let events = Events()
        let (channel, connection) = try await Self.connected(events: events)
        async let subscribed: Void = connection.subscribe(["news", "sport"])
        #expect(try await Self.written(channel) == Self.command("SUBSCRIBE", "news", "sport"))
        try await channel.writeInbound(
            Self.wire(
                .push([Self.bulk("subscribe"), Self.bulk("news"), .integer(1)]),
                .push([Self.bulk("subscribe"), Self.bulk("sport"), .integer(2)])
            )
        )
        try await subscribed

        async let reply = connection.send(RedisCommand("GET", "k"))
        _ = try await Self.written(channel)
        try await channel.writeInbound(
            Self.wire(
                .push([Self.bulk("message"), Self.bulk("news"), Self.bulk("extra!")]),
                .push([Self.bulk("invalidate"), .array([Self.bulk("k")])]),
                Self.bulk("v")
            )
        )
        #expect(try await reply == Self.bulk("v"))
        #expect(events.messages.withLock { $0 } == [RedisPubSubMessage(channel: "news", payload: ByteBuffer(string: "extra!"))])
        #expect(events.invalidations.withLock { $0 } == [.keys(["k"])])
        await connection.close()
    }

    @Test func broadcastTrackingSendsOnePrefixArgumentPerPrefix() async throws {
        let (channel, connection) = try await Self.connected()
        async let enabled: Void = connection.enableBroadcastTracking(prefixes: ["_tooz_", "other:"])
        #expect(try await Self.written(channel) == Self.command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "_tooz_", "PREFIX", "other:"))
        try await channel.writeInbound(Self.wire(Self.simple("OK")))
        try await enabled
        await connection.close()
    }

    @Test func aRefusedTrackingThrowsABackendErrorAndTheConnectionLivesOn() async throws {
        let (channel, connection) = try await Self.connected()
        async let enabled: Void = connection.enableBroadcastTracking(prefixes: ["a", "ab"])
        _ = try await Self.written(channel)
        try await channel.writeInbound(Self.wire(Self.error("ERR Prefix 'ab' overlaps with an existing prefix 'a'.")))
        do {
            try await enabled
            Issue.record("a refused CLIENT TRACKING did not throw")
        } catch {
            #expect((error as? ToozError)?.code == .backendError)
        }
        #expect(connection.isActive)
        await connection.close()
    }

    @Test func trackingOverRESP2IsRefusedWithoutAskingTheServer() async throws {
        let channel = try await Self.makeChannel()
        let connection = try await Self.connect(
            channel,
            script: [
                (Self.command("HELLO", "3"), Self.wire(Self.error("ERR unknown command 'HELLO'"))),
                (Self.command("PING"), Self.wire(Self.simple("PONG"))),
            ]
        )
        await #expect {
            try await connection.enableBroadcastTracking(prefixes: ["_tooz_"])
        } throws: { error in
            (error as? ToozError)?.code == .notImplemented
        }
        // Nothing was written: the next write is the next command's.
        async let reply = connection.send(RedisCommand("PING"))
        #expect(try await Self.written(channel) == Self.command("PING"))
        try await channel.writeInbound(Self.wire(Self.simple("PONG")))
        #expect(try await reply == Self.simple("PONG"))
        await connection.close()
    }

    @Test func resp2MessagesAreDeliveredOnceSubscribed() async throws {
        let events = Events()
        let channel = try await Self.makeChannel()
        let connection = try await Self.connect(
            channel,
            events: events,
            script: [
                (Self.command("HELLO", "3"), Self.wire(Self.error("ERR unknown command 'HELLO'"))),
                (Self.command("PING"), Self.wire(Self.simple("PONG"))),
            ]
        )
        #expect(connection.protocolVersion == 2)
        async let subscribed: Void = connection.subscribe(["news"])
        _ = try await Self.written(channel)
        try await channel.writeInbound(Self.wire(.array([Self.bulk("subscribe"), Self.bulk("news"), .integer(1)])))
        try await subscribed
        try await channel.writeInbound(Self.wire(.array([Self.bulk("message"), Self.bulk("news"), Self.bulk("hi")])))
        #expect(events.messages.withLock { $0 } == [RedisPubSubMessage(channel: "news", payload: ByteBuffer(string: "hi"))])
        await connection.close()
    }

    @Test func aRefusedSubscriptionThrows() async throws {
        let (channel, connection) = try await Self.connected()
        let subscribed = Task { try await connection.subscribe(["secret"]) }
        _ = try await Self.written(channel)
        try await channel.writeInbound(Self.wire(Self.error("NOPERM this user has no permissions to access the 'secret' channel")))
        let error = await Self.failure(of: subscribed)
        #expect(error?.code == .backendError)
        #expect(connection.isActive)
        await connection.close()
    }

    @Test func aCancelledWaitDropsItsLateReply() async throws {
        let (channel, connection) = try await Self.connected()
        let waiting = Task { try await connection.send(RedisCommand("BLPOP", "queue", 0)) }
        _ = try await Self.written(channel)
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }

        // The late reply to BLPOP is dropped; the next command gets its own reply.
        async let next = connection.send(RedisCommand("GET", "k"))
        _ = try await Self.written(channel)
        try await channel.writeInbound(Self.wire(.array([Self.bulk("queue"), Self.bulk("job")]), Self.bulk("mine")))
        #expect(try await next == Self.bulk("mine"))
        #expect(connection.isActive)
        await connection.close()
    }

    @Test func thePeerClosingFailsRequestsAndNotifiesOnce() async throws {
        let events = Events()
        let (channel, connection) = try await Self.connected(events: events)
        let reply = Task { try await connection.send(RedisCommand("GET", "a")) }
        _ = try await Self.written(channel)
        channel.pipeline.fireChannelInactive()
        let error = await Self.failure(of: reply)
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("closed before the reply to GET") == true)
        #expect(events.closes.withLock { $0 } == 1)
        _ = try? await channel.close()
    }

    /// The `ToozError` that `task` ends with, or `nil` (recording an issue) if it does not fail so.
    static func failure<T: Sendable>(of task: Task<T, any Error>) async -> ToozError? {
        switch await task.result {
        case .success:
            Issue.record("expected a ToozError, but it succeeded")
            return nil
        case .failure(let error as ToozError):
            return error
        case .failure(let error):
            Issue.record("expected a ToozError, got \(error)")
            return nil
        }
    }
}
