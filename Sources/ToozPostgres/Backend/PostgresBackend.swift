import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import Tooz
import ToozNIO

/// The `postgresql://` backend: every tooz feature on a PostgreSQL server, with Python tooz's
/// advisory lock keys so that Python and Swift holders exclude each other.
///
/// What it does better than tooz (which offers locks only, deprecated, on a new connection per
/// acquisition): locks are held on kept connections (one each, reused), blocking waits block
/// on the server with a deadline, every acquisition takes a durable fencing token in the same
/// statement, and groups, capabilities, leaders and pushed events exist (see ``PostgresSchema``).
///
/// Leases are what the server enforces: a lock or membership lives as long as its connection,
/// and each such connection carries `idle_session_timeout` set to the lease's TTL, so a client
/// that freezes or loses the network loses its locks and memberships on the server one TTL
/// after its last refresh, which the coordinator's safe deadline precedes.
public final class PostgresBackend: CoordinationBackend {
    let connector: PostgresConnector
    let schema: PostgresSchema
    let configuration: PostgresConfiguration
    let membershipTTL: Duration
    let listener: PostgresListener
    /// Groups, reads, holders: a connection with no lease on it.
    private let main: ReconnectingLink<PostgresConnection>
    /// The liveness connection of our memberships, made on the first join.
    private let liveness: ReconnectingLink<PostgresLivenessSession>
    /// Lock connections: idle ones to reuse, and every open one (closed on disconnect).
    private let lockConnections = LockConnectionPool<PostgresConnection>(
        idleLimit: 1, isClosed: { $0.isClosed }, closeNow: { $0.closeNow() }
    )
    private let context = Mutex<BackendContext?>(nil)
    /// Set by `disconnect()`: connections closing then are not news for the coordinator.
    private let disconnecting = Atomic<Bool>(false)
    public let info: BackendInfo
    public let taskExecutor: (any TaskExecutor)?

    package init(
        configuration: PostgresConfiguration, membershipTTL: Duration, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(ToozError) {
        let eventLoop = eventLoopGroup.next()
        let connector = try PostgresConnector(configuration: configuration, eventLoop: eventLoop, logger: logger)
        self.connector = connector
        self.configuration = configuration
        self.schema = PostgresSchema(name: configuration.schema)
        self.membershipTTL = membershipTTL
        self.listener = PostgresListener(connector: connector, schema: schema)
        let backoff = ReconnectingLink<PostgresConnection>.Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        let closed = { @Sendable () -> any Error in ToozError(.notRunning, "the PostgreSQL backend is disconnected") }
        let abandoned = { @Sendable () -> any Error in ToozError(.connectionFailed, "the PostgreSQL connection attempt was abandoned") }
        self.main = ReconnectingLink(backoff: backoff, isActive: { !$0.isClosed }, closedError: closed, abandonedError: abandoned)
        self.liveness = ReconnectingLink(
            backoff: .init(initial: backoff.initial, maximum: backoff.maximum), isActive: { !$0.connection.isClosed },
            closedError: closed, abandonedError: abandoned
        )
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.info = BackendInfo(
            name: "postgresql",
            features: .all,
            fencing: .durable,
            eventDelivery: .pushed,
            leaseKind: .ttl,
            characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .serializable],
            // Names are btree keys (at most about 2,700 bytes per index entry, two per row).
            nameRules: NameRules(maximumLength: 1024),
            maximumCapabilitiesSize: 1 << 20
        )
    }

    var logger: Logger { connector.logger }
    var statementTimeout: Duration { configuration.statementTimeout }

    // MARK: Lifecycle

    /// Connects, checks that the server is PostgreSQL and that our tables exist (creating
    /// them, idempotently, when they do not), and forgets sessions of dead processes.
    public func connect(_ context: BackendContext) async throws {
        self.context.withLock { $0 = context }
        let connection = try await mainConnection()
        let migrated = try await connection.rows(
            PostgresQuery(unsafeSQL: schema.isMigratedQuery), timeout: statementTimeout, doing: "look for the \(schema.name) schema", logger: logger
        )
        if try migrated.first?.value(0, as: Bool.self, "whether the schema exists") != true {
            try await migrate(on: connection)
        }
        // Housekeeping, not a requirement: a user who may only read cannot do it.
        _ = try? await connection.rows(
            PostgresQuery(unsafeSQL: schema.pruneSessions), timeout: statementTimeout, doing: "forget dead sessions", logger: logger
        )
    }

    private func migrate(on connection: PostgresConnection) async throws {
        do {
            _ = try await connection.rows("BEGIN", timeout: statementTimeout, doing: "create the \(schema.name) schema", logger: logger)
            for statement in schema.migration {
                _ = try await connection.rows(
                    PostgresQuery(unsafeSQL: statement), timeout: statementTimeout, doing: "create the \(schema.name) schema", logger: logger
                )
            }
            _ = try await connection.rows("COMMIT", timeout: statementTimeout, doing: "create the \(schema.name) schema", logger: logger)
        } catch {
            _ = try? await connection.rows("ROLLBACK", timeout: statementTimeout, doing: "roll back", logger: logger)
            throw error
        }
    }

    /// Closes every connection: held locks and memberships end on the server at once.
    public func disconnect() async {
        disconnecting.store(true, ordering: .relaxed)
        listener.close()
        var connections = lockConnections.removeAll()
        if let main = main.close() { connections.append(main) }
        if let session = liveness.close() { connections.append(session.connection) }
        for connection in connections { try? await connection.close() }
    }

    /// `SELECT 1` on the main connection.
    public func ping() async throws {
        _ = try await mainConnection().firstRow(
            PostgresStatements.Ping(), timeout: statementTimeout, doing: "ping", logger: logger, onCancel: .abandonStatement
        )
    }

    // MARK: Connections

    func mainConnection() async throws -> PostgresConnection {
        try await main.connection(
            connect: { try await connector.connect(settings: [("idle_session_timeout", "0")]) },
            close: { try? await $0.close() }
        )
    }

    /// Runs one statement on the main connection.
    func run(_ query: PostgresQuery, doing what: String) async throws -> [PostgresRow] {
        // Shared by every caller: a cancelled one must not close it under the others.
        try await mainConnection().rows(query, timeout: statementTimeout, doing: what, logger: logger, onCancel: .abandonStatement)
    }

    /// The liveness session, made (with a new session key) when there is none. Its connection
    /// ends on the server after a membership TTL without a heartbeat.
    func livenessSession() async throws -> PostgresLivenessSession {
        try await liveness.connection(
            connect: {
                let milliseconds = membershipTTL.components.seconds * 1000 + membershipTTL.components.attoseconds / 1_000_000_000_000_000
                let connection = try await connector.connect(settings: [("idle_session_timeout", "\(max(milliseconds, 1))")])
                let key = Self.newSessionKey()
                do {
                    let rows = try await connection.rows(
                        "SELECT pg_try_advisory_lock(\(key)::int8)", timeout: statementTimeout, doing: "take the membership session lock",
                        logger: logger
                    )
                    guard try rows.first?.value(0, as: Bool.self, "the session lock") == true else {
                        throw ToozError(.backendError, "the membership session lock was already taken")
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                let session = PostgresLivenessSession(connection: connection, sessionKey: key)
                connection.closeFuture.whenComplete { [weak self] _ in self?.livenessClosed() }
                return session
            },
            close: { try? await $0.connection.close() }
        )
    }

    /// The membership connection is gone, and with it our members on the server: have the
    /// coordinator beat now, which finds the rows on a dead key and re-joins.
    private func livenessClosed() {
        guard !disconnecting.load(ordering: .relaxed) else { return }
        context.withLock { $0 }?.report(.connectionRestored)
    }

    /// A connection for one lock: an idle one, or a new one holding a fresh session key
    /// registered under `member`.
    func checkoutLockConnection(member: MemberID, reuse: Bool) async throws -> (PostgresLockConnection, reused: Bool) {
        if reuse, let idle = lockConnections.takeIdle() { return (idle, true) }
        // A server blocked in a lock wait does not read its socket: without this check, the
        // wait of a cancelled or killed waiter would go on (and could even be granted) after
        // its connection closed.
        let connection = try await connector.connect(settings: [("client_connection_check_interval", "250")])
        let key = Self.newSessionKey()
        do {
            let rows = try await connection.rows(
                PostgresQuery(unsafeSQL: schema.registerSession, binds: Self.binds(key, member.rawValue)), timeout: statementTimeout,
                doing: "register a lock connection", logger: logger
            )
            guard !rows.isEmpty else { throw ToozError(.backendError, "a new lock connection could not take its session key") }
        } catch {
            try? await connection.close()
            throw error
        }
        let lockConnection = PostgresLockConnection(connection: connection, sessionKey: key)
        let added = lockConnections.add(lockConnection, closeFuture: connection.closeFuture) { [weak self] token in
            self?.context.withLock { $0 }?.report(.grantLost(ownerToken: token))
        }
        guard added else { throw ToozError(.notRunning, "the PostgreSQL backend is disconnected") }
        return (lockConnection, false)
    }

    /// Puts a connection that holds nothing back for reuse, or closes it.
    func checkin(_ lockConnection: PostgresLockConnection) {
        lockConnections.checkin(lockConnection)
    }

    /// A random positive int8 advisory key for a session.
    static func newSessionKey() -> Int64 {
        Int64.random(in: 1...Int64.max)
    }

    static func binds(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { binds.append(value) }
        return binds
    }

    var clock: any ToozClock { context.withLock { $0?.clock } ?? ContinuousToozClock() }

    // MARK: Changes

    /// Groups are followed with `LISTEN`; lock waits block on the server and need nothing.
    public func subscribe(to topic: ChangeTopic) async throws -> ChangeSubscription? {
        guard case .group(let group) = topic else { return nil }
        let signal = await listener.retain(group.rawValue)
        let listener = self.listener
        return ChangeSubscription(signal: signal) { listener.release(group.rawValue) }
    }
}
