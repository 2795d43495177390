import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tooz
import ToozNIO

/// The `mysql://` backend: every tooz feature on a MySQL or MariaDB server, with Python tooz's
/// lock names so that Python and Swift holders exclude each other.
///
/// What it does better than tooz (which offers locks only, on a new connection per
/// acquisition): locks are held on kept connections (one each, reused), blocking waits block
/// on the server with the deadline as `GET_LOCK`'s timeout, every acquisition takes a durable
/// fencing token in the same round trip, and groups, capabilities and leaders exist (see
/// ``MySQLSchema``). MySQL cannot push changes: group events are polled.
///
/// Leases are what the server enforces: a lock or membership lives as long as its connection,
/// and each such connection carries a `wait_timeout` of the lease's TTL (rounded up to whole
/// seconds), so a client that freezes or loses the network loses its locks and memberships on
/// the server one TTL after its last refresh, which the coordinator's safe deadline precedes.
public final class MySQLBackend: CoordinationBackend {
    let configuration: MySQLConfiguration
    let membershipTTL: Duration
    let logger: Logger
    private let eventLoop: any EventLoop
    /// Groups, reads, holders: a connection with no lease on it.
    private let main: ReconnectingLink<MySQLConnection>
    /// The liveness connection of our memberships, made on the first join.
    private let liveness: ReconnectingLink<MySQLLivenessSession>
    /// Lock connections: idle ones to reuse, and every open one (closed on disconnect).
    private let lockConnections = LockConnectionPool<MySQLConnection>(
        idleLimit: 1, isClosed: { $0.isClosed }, closeNow: { $0.closeNow() }
    )
    private let context = Mutex<BackendContext?>(nil)
    /// Whether the server has sequences (MariaDB), learnt from its version when connecting.
    private let sequences = Atomic<Bool>(true)
    /// Set by `disconnect()`: connections closing then are not news for the coordinator.
    private let disconnecting = Atomic<Bool>(false)
    public let info: BackendInfo
    public let taskExecutor: (any TaskExecutor)?

    /// MySQL's limit on user lock names (MariaDB's is 192 bytes; the smaller one holds for both).
    package static let lockNameLimit = 64

    package init(
        configuration: MySQLConfiguration, membershipTTL: Duration, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.eventLoop = eventLoopGroup.next()
        self.configuration = configuration
        self.membershipTTL = membershipTTL
        self.logger = logger
        let backoff = ReconnectingLink<MySQLConnection>.Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        let closed = { @Sendable () -> any Error in ToozError(.notRunning, "the MySQL backend is disconnected") }
        let abandoned = { @Sendable () -> any Error in ToozError(.connectionFailed, "the MySQL connection attempt was abandoned") }
        self.main = ReconnectingLink(backoff: backoff, isActive: { !$0.isClosed }, closedError: closed, abandonedError: abandoned)
        self.liveness = ReconnectingLink(
            backoff: .init(initial: backoff.initial, maximum: backoff.maximum), isActive: { !$0.connection.isClosed },
            closedError: closed, abandonedError: abandoned
        )
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.info = BackendInfo(
            name: "mysql",
            features: .all,
            fencing: .durable,
            eventDelivery: .polled,
            leaseKind: .ttl,
            characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .distributedAcrossHosts, .serializable],
            // Group and member ids are VARBINARY(1024) keys; lock names are MySQL's user locks.
            nameRules: NameRules(
                maximumLength: 1024, reservedPrefixes: [.lock: [MySQLSchema.reservedLockPrefix]],
                maximumLengthByKind: [.lock: Self.lockNameLimit]
            ),
            maximumCapabilitiesSize: 1 << 20
        )
    }

    var statementTimeout: Duration { configuration.statementTimeout }
    var schema: MySQLSchema {
        MySQLSchema(prefix: configuration.tablePrefix, hasSequences: sequences.load(ordering: .relaxed))
    }

    // MARK: Lifecycle

    /// Connects, checks that our tables exist (creating them, idempotently, when they do not),
    /// and forgets sessions of dead processes.
    public func connect(_ context: BackendContext) async throws {
        self.context.withLock { $0 = context }
        let connection = try await mainConnection()
        sequences.store(connection.serverVersion.contains("MariaDB"), ordering: .relaxed)
        let schema = self.schema
        let count = try await connection.query(schema.countTables, timeout: statementTimeout, doing: "look for our tables")
        if try Self.firstInteger(count, "how many tables exist") != Int64(MySQLSchema.tableCount) {
            _ = try await connection.query(schema.migration, timeout: statementTimeout, doing: "create our tables")
        }
        // Housekeeping, not a requirement: a user who may only read cannot do it.
        _ = try? await connection.query(schema.pruneSessions, timeout: statementTimeout, doing: "forget dead sessions")
    }

    /// Closes every connection: held locks and memberships end on the server at once.
    public func disconnect() async {
        disconnecting.store(true, ordering: .relaxed)
        var connections = lockConnections.removeAll()
        if let main = main.close() { connections.append(main) }
        if let session = liveness.close() { connections.append(session.connection) }
        for connection in connections { await connection.close() }
    }

    /// `COM_PING` on the main connection.
    public func ping() async throws {
        try await mainConnection().ping(timeout: statementTimeout)
    }

    // MARK: Connections

    func newConnection() async throws -> MySQLConnection {
        try await MySQLConnection.connect(configuration.connection, eventLoop: eventLoop, logger: logger)
    }

    func mainConnection() async throws -> MySQLConnection {
        try await main.connection(connect: { try await newConnection() }, close: { await $0.close() })
    }

    /// Runs SQL on the main connection.
    func run(_ sql: String, doing what: String) async throws -> [MySQLResult] {
        // Shared by every caller: a cancelled one must not close it under the others.
        try await mainConnection().query(sql, timeout: statementTimeout, doing: what, onCancel: .abandonStatement)
    }

    /// The liveness session, made (with a new session key) when there is none. Its connection
    /// ends on the server after a membership TTL without a heartbeat.
    func livenessSession() async throws -> MySQLLivenessSession {
        try await liveness.connection(
            connect: {
                let connection = try await newConnection()
                let key = Self.newSessionKey()
                do {
                    let results = try await connection.query(
                        schema.startLivenessSession(key: key, idleSeconds: MySQLLiteral.wholeSecondsUp(membershipTTL)),
                        timeout: statementTimeout, doing: "take the membership session lock"
                    )
                    guard try Self.firstInteger(results, "the session lock") == 1 else {
                        throw ToozError(.backendError, "the membership session lock was already taken")
                    }
                } catch {
                    await connection.close()
                    throw error
                }
                let session = MySQLLivenessSession(connection: connection, sessionKey: key)
                connection.closeFuture.whenComplete { [weak self] _ in self?.livenessClosed() }
                return session
            },
            close: { await $0.connection.close() }
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
    func checkoutLockConnection(member: MemberID, reuse: Bool) async throws -> (MySQLLockConnection, reused: Bool) {
        if reuse, let idle = lockConnections.takeIdle() { return (idle, true) }
        let connection = try await newConnection()
        let key = Self.newSessionKey()
        do {
            let results = try await connection.query(
                schema.registerLockSession(key: key, member: member.rawValue), timeout: statementTimeout,
                doing: "register a lock connection"
            )
            guard try Self.firstInteger(results, "the session lock") == 1 else {
                throw ToozError(.backendError, "a new lock connection could not take its session lock")
            }
        } catch {
            await connection.close()
            throw error
        }
        let lockConnection = MySQLLockConnection(connection: connection, sessionKey: key)
        let added = lockConnections.add(lockConnection, closeFuture: connection.closeFuture) { [weak self] token in
            self?.context.withLock { $0 }?.report(.grantLost(ownerToken: token))
        }
        guard added else { throw ToozError(.notRunning, "the MySQL backend is disconnected") }
        return (lockConnection, false)
    }

    /// Puts a connection that holds nothing back for reuse, or closes it.
    func checkin(_ lockConnection: MySQLLockConnection) {
        lockConnections.checkin(lockConnection)
    }

    /// A random session key: the name of a connection's session lock.
    static func newSessionKey() -> Int64 {
        Int64.random(in: 1...Int64.max)
    }

    var clock: any ToozClock { context.withLock { $0?.clock } ?? ContinuousToozClock() }

    // MARK: Reading results

    /// The result sets among `results`, in order.
    static func resultSets(_ results: [MySQLResult]) -> [MySQLResultSet] {
        results.compactMap { if case .rows(let set) = $0 { set } else { nil } }
    }

    /// The OK results among `results`, in order.
    static func oks(_ results: [MySQLResult]) -> [MySQLOK] {
        results.compactMap { if case .ok(let ok) = $0 { ok } else { nil } }
    }

    /// The first cell of the first row of the last result set, as an integer (nil for NULL).
    static func firstInteger(_ results: [MySQLResult], _ what: String) throws(ToozError) -> Int64? {
        guard let row = resultSets(results).last?.rows.first else {
            throw ToozError(.backendError, "MySQL answered no row for \(what)")
        }
        return try row.int64(0, what)
    }

    /// The affected rows of the `index`th OK result.
    static func affectedRows(_ results: [MySQLResult], _ index: Int, _ what: String) throws(ToozError) -> UInt64 {
        let oks = oks(results)
        guard index < oks.count else { throw ToozError(.backendError, "MySQL answered no result for \(what)") }
        return oks[index].affectedRows
    }
}
