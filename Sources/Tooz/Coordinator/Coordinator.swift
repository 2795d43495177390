import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// One member's view of a coordination backend: groups, leader election, locks and the
/// partitioner, with the same behaviour on every backend.
///
/// Run it as a `Service` (or inside ``withRunning(_:)``): ``run()`` connects, keeps memberships and
/// leases alive, and hosts partitioner updates; a graceful shutdown or cancellation of `run()`
/// releases locks and leadership, leaves groups and disconnects.
///
/// ```swift
/// let coordinator = try Coordinator(url: "file:///var/lib/tooz", member: "worker-1", logger: logger)
/// try await coordinator.withRunning {
///     try await coordinator.createGroupIfNeeded("workers")
///     try await coordinator.join("workers", capabilities: ["weight": 2])
///     try await coordinator.withLock(named: "rebuild-index", wait: .seconds(5)) { lease in … }
/// }
/// ```
public final class Coordinator: Service, Sendable {
    /// This member's id.
    public let member: MemberID
    /// The backend this coordinator drives.
    public let backend: any CoordinationBackend
    /// Timings: TTLs, renewal, polling.
    public let configuration: CoordinatorConfiguration
    package let clock: any ToozClock
    package let logger: Logger
    package let metrics: ToozMetrics
    /// The timings of leases with the configured TTLs, derived once.
    package let lockTiming: LeaseTiming
    package let leaderTiming: LeaseTiming
    package let membershipTiming: LeaseTiming

    package enum Phase: Sendable {
        case idle
        case connecting
        case running
        case stopping
        case stopped
    }

    package struct State: Sendable {
        var phase: Phase = .idle
        var connectError: ToozError?
        var readinessWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID = 0
        /// Groups joined and not left, each with its membership lease.
        var memberships: [GroupID: Membership] = [:]
        var leases: [ObjectIdentifier: Lease] = [:]
        /// When the renewal loop will next look at the leases; `nil` while it is computing that.
        var renewalWakeUpAt: Duration?

        /// Whether the renewal loop must be woken for a new lease or membership governed by
        /// `machine`: only when it would otherwise sleep past that one's first refresh or
        /// deadline. Usually it wakes sooner anyway, and waking it costs a timer.
        func renewalMustWake(for machine: LeaseStateMachine) -> Bool {
            guard let scheduled = renewalWakeUpAt else { return true }
            return machine.nextWakeUp.map { $0 < scheduled } ?? false
        }
        /// Releases that failed, by grant token, retried by the renewal loop (TTL backends only).
        var abandonedReleases: [String: (key: LockKey, grant: LockGrant)] = [:]
        /// Whether a pass over ``abandonedReleases`` is under way.
        var handingBack = false
        var jobs: AsyncStream<HostedJob>.Continuation?
    }

    package let state = Mutex(State())
    /// Wakes the renewal loop when a lease is added, a refresh ends, or a signal arrives.
    package let leasesChanged = ChangeBroadcast()
    /// Wakes the heartbeat loop before its period (a join, a restored connection, an expiry).
    package let heartbeatNeeded = ChangeBroadcast()
    /// Notified when a membership changes state, for event streams.
    package let membershipsChanged = ChangeBroadcast()
    /// Serializes a leave of a group with the heartbeat's re-join of it.
    package let membershipGate = KeyedGate<GroupID>()

    /// Creates a coordinator for a backend you built yourself. Most code uses
    /// `Coordinator(url:member:logger:)` from `ToozBackends`.
    ///
    /// - Parameters:
    ///   - clock: what leases and polling are timed with; a ``ManualClock`` in tests.
    ///   - logger: the caller's logger; the coordinator logs at debug and trace only.
    ///   - metricsFactory: where the `tooz_*` metrics go; the bootstrapped system by default.
    /// - Throws: `invalidArgument` when `member` breaks the backend's name rules.
    public init(
        backend: any CoordinationBackend,
        member: MemberID,
        configuration: CoordinatorConfiguration = CoordinatorConfiguration(),
        clock: any ToozClock = .continuous,
        logger: Logger = Logger(label: "tooz", factory: { _ in SwiftLogNoOpLogHandler() }),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(ToozError) {
        let info = backend.info
        try info.nameRules.validate(member.rawValue, as: .member)
        self.backend = backend
        self.info = info
        self.member = member
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "tooz_member_id"] = "\(member.rawValue)"
        logger[metadataKey: "tooz_backend"] = "\(info.name)"
        self.logger = logger
        self.metrics = ToozMetrics(backend: info.name, factory: metricsFactory)
        self.lockTiming = LeaseTiming(ttl: configuration.lockTTL, configuration: configuration)
        self.leaderTiming = LeaseTiming(ttl: configuration.leaderTTL, configuration: configuration)
        self.membershipTiming = LeaseTiming(ttl: configuration.membershipTTL, configuration: configuration)
    }

    /// What the backend can do and guarantees, read once when the coordinator is made: every
    /// operation consults it, and a backend may build it anew on each read.
    public let info: BackendInfo

    /// Where the backend does its I/O (a SwiftNIO event loop), or `nil` for backends without
    /// one. The coordinator's own operations and loops already run there; a caller that makes
    /// many requests in a row can run its loop there too, so that no request costs a thread hop:
    ///
    /// ```swift
    /// try await withTaskExecutorPreference(coordinator.taskExecutor) {
    ///     for item in batch { try await coordinator.withLock(named: item.lock) { _ in … } }
    /// }
    /// ```
    ///
    /// Code that runs there must not block the thread.
    public var taskExecutor: (any TaskExecutor)? { backend.taskExecutor }

    /// Whether ``run()`` has connected and not yet begun to stop. tooz: `is_started`.
    public var isRunning: Bool { state.withLock { $0.phase == .running } }

    // MARK: Lifecycle

    /// Connects, then keeps memberships and leases alive and hosts partitioner updates until a
    /// graceful shutdown or cancellation, then releases locks and leadership, leaves the groups
    /// it joined and disconnects. tooz: `start(start_heart=True)` … `stop()`.
    ///
    /// - Throws: `connectionFailed` when the backend cannot be reached, `invalidArgument` when
    ///   the coordinator is already running.
    public func run() async throws {
        let (jobs, jobsContinuation) = AsyncStream<HostedJob>.makeStream()
        try state.withLock { (state: inout State) throws(ToozError) in
            switch state.phase {
            case .idle, .stopped:
                state.phase = .connecting
                state.connectError = nil
                state.jobs = jobsContinuation
            case .connecting, .running, .stopping:
                throw ToozError(.invalidArgument, "run() was called on a coordinator that is already running")
            }
        }
        logger.debug("connecting")
        do {
            try await backend.connect(makeBackendContext())
        } catch {
            let failure =
                (error as? ToozError)
                ?? (error is CancellationError
                    ? ToozError(.connectionFailed, "connecting to the \(info.name) backend was given up before it completed")
                    : ToozError(.connectionFailed, "could not connect to the \(info.name) backend", underlying: error))
            finishStartup(with: failure)
            await backend.disconnect()
            throw failure
        }
        finishStartup(with: nil)
        logger.debug("connected")

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask(executorPreference: backend.taskExecutor) { await self.renewalLoop() }
                group.addTask(executorPreference: backend.taskExecutor) { await self.heartbeatLoop() }
                for await job in jobs {
                    group.addTask { await job.run() }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        beginShutdown()
        await shutDown()
    }

    /// Runs `body` while this coordinator runs, then shuts it down gracefully.
    ///
    /// `body` starts once the backend is connected; if connecting fails, the error is thrown
    /// and `body` never runs.
    public func withRunning<Result: Sendable>(
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await self.run()
                return nil
            }
            do {
                // As long as run() takes: it ends with the backend's connect timeout at the
                // latest, and a loaded machine may need longer than one operation's timeout.
                try await waitUntilRunning(within: nil)
            } catch {
                group.cancelAll()
                // A connection failure is reported by run(); prefer its error.
                while let next = await group.nextResult() {
                    if case .failure(let runError) = next { throw runError }
                }
                throw error
            }
            // A graceful shutdown, not cancellation: leaving groups and releasing locks must not
            // run in a cancelled task, where a backend that waits on the way (a contended file
            // lock) would fail and leave the member behind until its TTL.
            do {
                let result = try await body()
                beginShutdown()
                try await group.waitForAll()
                return result
            } catch {
                beginShutdown()
                while let next = await group.nextResult() {
                    if case .failure(let runError) = next { throw runError }
                }
                throw error
            }
        }
    }

    /// Waits until ``run()`` has connected. Operations call this first.
    ///
    /// - Throws: `notRunning` when `run()` does not connect within the operation timeout or has
    ///   stopped; the connection error when connecting failed.
    public func waitUntilRunning() async throws {
        try await waitUntilRunning(within: configuration.operationTimeout)
    }

    /// Whether ``run()`` has connected and not stopped: the check every operation makes first,
    /// without the frames of an async wait.
    var isRunningNow: Bool {
        state.withLock { state in
            if case .running = state.phase { return true }
            return false
        }
    }

    /// Waits until ``run()`` has connected, at most `limit` (`nil`: until `run()` has connected
    /// or failed, which the backend's own connect timeout bounds).
    private func waitUntilRunning(within limit: Duration?) async throws {
        enum Readiness { case ready, failed(ToozError), wait }
        let readiness = state.withLock { state -> Readiness in
            switch state.phase {
            case .running: return .ready
            case .stopping, .stopped:
                return .failed(state.connectError ?? ToozError(.notRunning, "the coordinator has stopped; call run() again"))
            case .idle, .connecting: return .wait
            }
        }
        switch readiness {
        case .ready: return
        case .failed(let error): throw error
        case .wait: break
        }
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let immediate: Result<Void, any Error>? = self.state.withLock { state in
                            if Task.isCancelled { return .failure(CancellationError()) }
                            switch state.phase {
                            case .running: return .success(())
                            case .stopping, .stopped:
                                return .failure(
                                    state.connectError ?? ToozError(.notRunning, "the coordinator has stopped")
                                )
                            case .idle, .connecting:
                                state.readinessWaiters[id] = continuation
                                return nil
                            }
                        }
                        if let immediate { continuation.resume(with: immediate) }
                    }
                } onCancel: {
                    let waiter = self.state.withLock { $0.readinessWaiters.removeValue(forKey: id) }
                    waiter?.resume(throwing: CancellationError())
                }
            }
            if let timeout = limit {
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw ToozError(
                        .notRunning,
                        "the coordinator is not running: call run() (or withRunning) before using it; waited \(timeout)"
                    )
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func finishStartup(with error: ToozError?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            if let error {
                state.phase = .stopped
                state.connectError = error
                state.jobs?.finish()
                state.jobs = nil
            } else {
                state.phase = .running
            }
            let waiters = Array(state.readinessWaiters.values)
            state.readinessWaiters.removeAll()
            return waiters
        }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    /// Stops accepting hosted work, which makes `run()`'s task group wind down.
    private func beginShutdown() {
        let jobs = state.withLock { state in
            if state.phase == .running || state.phase == .connecting { state.phase = .stopping }
            defer { state.jobs = nil }
            return state.jobs
        }
        jobs?.finish()
    }

    /// Tells every lease that we are stopping (which cancels `with…` bodies), waits a bounded
    /// time for scoped bodies to finish and release, releases the rest, leaves groups, disconnects.
    private func shutDown() async {
        logger.debug("shutting down")
        let leases = state.withLock { Array($0.leases.values) }
        for lease in leases where lease.update({ $0.shutDown() }) != nil {
            metrics.leaseLost(lease, reason: .shutdown)
        }
        // Scoped leases are released by their with… call once the cancelled body returns.
        let deadline = clock.now() + configuration.operationTimeout
        while clock.now() < deadline, state.withLock({ $0.leases.values.contains { $0.isScoped } }) {
            do { try await Task.sleep(for: .milliseconds(5)) } catch { break }
        }
        for lease in state.withLock({ Array($0.leases.values) }) {
            _ = try? await releaseOnBackend(lease)
        }
        let memberships = state.withLock { $0.memberships }
        for (group, membership) in memberships.sorted(by: { $0.key < $1.key }) {
            if membership.update({ $0.released() }) != nil { membershipsChanged.notifyAll() }
            do {
                try await backend.leave(group, member: member)
            } catch {
                logger.debug("could not leave group on shutdown", metadata: ["tooz_group_id": "\(group)", "error": "\(error)"])
            }
        }
        await backend.disconnect()
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.phase = .stopped
            state.memberships.removeAll()
            state.leases.removeAll()
            defer { state.readinessWaiters.removeAll() }
            return Array(state.readinessWaiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: ToozError(.notRunning, "the coordinator has stopped")) }
        logger.debug("stopped")
    }

    private func makeBackendContext() -> BackendContext {
        BackendContext(logger: logger, clock: clock) { [weak self] signal in
            self?.handle(signal)
        }
    }

    // MARK: Hosted work

    /// Background work that lives inside `run()`'s task group (partitioner updates).
    package struct HostedJob: Sendable {
        let run: @Sendable () async -> Void
    }

    /// Hands `work` to `run()`; returns `false` when the coordinator is not running.
    package func host(_ work: @escaping @Sendable () async -> Void) -> Bool {
        let jobs = state.withLock { $0.jobs }
        guard let jobs else { return false }
        if case .enqueued = jobs.yield(HostedJob(run: work)) { return true }
        return false
    }
}
