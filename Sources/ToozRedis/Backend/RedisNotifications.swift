import Logging
import NIOCore
import Synchronization
import Tooz

/// What wakes local waiters: one listener connection of our own that hears every change to a
/// tooz key, whoever makes it, and the signals it wakes.
///
/// The listener speaks RESP3 and turns on client tracking in broadcast mode for the namespace
/// (`CLIENT TRACKING ON BCAST PREFIX NS_`). From then on the server pushes an `invalidate`
/// with the key whenever anyone writes, deletes, or lets expire a key of the layout: a Python
/// tooz holder's release, a crashed holder's lock running out, a dead member's beat key
/// expiring, a group hash written by Python. ``RedisKeyRoute`` says which signals a key wakes.
///
/// When tracking cannot be turned on (a server before Redis 6, which also means RESP2, or an
/// ACL without `CLIENT`), the listener falls back to subscribing to the channels on which
/// swift-tooz members announce their own releases and group changes (the scripts still
/// publish, for such servers and for older swift-tooz versions); Python tooz changes are then
/// only seen by the poll.
///
/// Either way pushes only shorten waits. Every waiter still re-checks on a timer (the poll is
/// the safety net), and whenever the listener connects, drops, or reconnects, every waiter is
/// woken to re-check at once: an invalidation lost while nobody listened must not strand one.
final class RedisNotifications: Sendable {
    private let keys: RedisKeys
    private let route: RedisKeyRoute
    private let currentLogger: Mutex<Logger>
    private var logger: Logger { currentLogger.withLock { $0 } }
    private let state = Mutex(State())

    /// How the listener hears about changes.
    enum Mode: Sendable, Hashable {
        /// Client tracking: every change to a tooz key, by anyone.
        case tracking
        /// Pub/sub: only swift-tooz members' announcements.
        case announcements
    }

    private struct State {
        /// Lock key → its signal and how many waits use it, so that idle keys are forgotten.
        var lockSignals: [String: (signal: ChangeBroadcast, users: Int)] = [:]
        var groupSignals: [GroupID: ChangeBroadcast] = [:]
        var listener: RedisConnection?
        var mode: Mode?
        var connecting = false
        var nextAttempt: ContinuousClock.Instant?
        var failures = 0
        var closed = false
    }

    init(keys: RedisKeys, logger: Logger) {
        self.keys = keys
        self.route = RedisKeyRoute(keys: keys)
        self.currentLogger = Mutex(logger)
    }

    // MARK: Signals

    /// The signal woken when a lock key changes (or, without tracking, is announced free), held
    /// until ``releaseLockSignal(_:)``.
    func retainLockSignal(_ lockKey: String) -> ChangeBroadcast {
        state.withLock { state in
            var entry = state.lockSignals[lockKey] ?? (ChangeBroadcast(), 0)
            entry.users += 1
            state.lockSignals[lockKey] = entry
            return entry.signal
        }
    }

    func releaseLockSignal(_ lockKey: String) {
        state.withLock { state in
            guard var entry = state.lockSignals[lockKey] else { return }
            entry.users -= 1
            state.lockSignals[lockKey] = entry.users > 0 ? entry : nil
        }
    }

    /// The signal woken when `group`'s hash, its leadership, the groups set, or any member's
    /// beat key changes (without tracking: when a swift-tooz member announces a change).
    func groupSignal(_ group: GroupID) -> ChangeBroadcast {
        state.withLock { state in
            if let signal = state.groupSignals[group] { return signal }
            let signal = ChangeBroadcast()
            state.groupSignals[group] = signal
            return signal
        }
    }

    /// Whether anyone listens for group changes, in which case reads keep the listener up.
    var hasGroupListeners: Bool { state.withLock { !$0.groupSignals.isEmpty } }

    /// How long a lock waiter may sleep, given the lock key's `PTTL` reply: `nil` when the key
    /// is gone (try again at once); otherwise `timeout`, cut to just past the key's expiry.
    ///
    /// A key that runs out is deleted, and its invalidation pushed, only when the server's expiry
    /// cycle comes across it, up to about 100 ms later (10 cycles a second), whereas an
    /// acquisition made after the deadline succeeds at once (the server expires a key it
    /// touches). So a crashed holder's lock is taken when its TTL ends, not when Redis tidies up.
    static func nap(untilExpiryIn reply: RESPValue, atMost timeout: Duration) -> Duration? {
        guard case .integer(let milliseconds) = reply else { return timeout }
        switch milliseconds {
        case -2: return nil
        case ..<0: return timeout  // -1: a key without a TTL only goes when someone deletes it.
        default: return min(timeout, .milliseconds(milliseconds) + .milliseconds(1))
        }
    }

    /// Logs to `logger` from now on (the coordinator's, handed over when it connects).
    package func use(logger: Logger) {
        currentLogger.withLock { $0 = logger }
    }

    // MARK: Listener

    /// How the listener currently hears about changes; `nil` while it is not connected.
    var mode: Mode? {
        state.withLock { state in
            guard let listener = state.listener, listener.isActive else { return nil }
            return state.mode
        }
    }

    /// Makes sure the listener is connected and returns whether it is. Never waits for a
    /// connection attempt another task has started, and never throws: without notifications,
    /// waiters fall back to polling. (The name is older than tracking: the listener no longer
    /// subscribes to anything when tracking works.)
    func ensureSubscribed(using client: RedisClient) async -> Bool {
        let shouldConnect = state.withLock { state -> Bool? in
            if state.closed { return false }
            if let listener = state.listener, listener.isActive { return nil }
            if state.connecting { return false }
            if let next = state.nextAttempt, next > .now { return false }
            state.connecting = true
            return true
        }
        guard let shouldConnect else { return true }
        guard shouldConnect else { return false }

        var listener: RedisConnection?
        var mode = Mode.tracking
        do {
            let connection = try await client.openDedicatedConnection(
                onMessage: { [weak self] message in self?.deliver(message) },
                onInvalidation: { [weak self] invalidation in self?.invalidated(invalidation) },
                onClose: { [weak self] in self?.listenerClosed() }
            )
            listener = connection
            mode = try await listen(on: connection)
        } catch {
            logger.debug("redis change listener could not connect; waiters poll", metadata: ["error": "\(error)"])
            await listener?.close()
            listener = nil
        }
        let orphan = state.withLock { state -> RedisConnection? in
            state.connecting = false
            guard let listener, !state.closed else {
                state.failures += 1
                state.nextAttempt = .now + min(.milliseconds(100) * (1 << min(state.failures - 1, 10)), .seconds(2))
                return listener
            }
            state.failures = 0
            state.nextAttempt = nil
            state.listener = listener
            state.mode = mode
            return nil
        }
        await orphan?.close()
        // Anything that changed while we were not listening would be missed: let waiters re-check.
        if listener != nil, orphan == nil { wakeEveryone() }
        return listener != nil && orphan == nil
    }

    /// Turns on tracking of the namespace, or subscribes to the announcement channels when the
    /// server cannot track. Throws when the connection fails either way.
    private func listen(on connection: RedisConnection) async throws -> Mode {
        do {
            try await connection.enableBroadcastTracking(prefixes: [route.trackingPrefix])
            logger.debug(
                "redis change listener tracks keys",
                metadata: ["prefix": "\(route.trackingPrefix)", "redis.version": "\(connection.serverVersion ?? "unknown")"]
            )
            return .tracking
        } catch {
            guard connection.isActive else { throw error }
            logger.debug(
                "redis client tracking unavailable; listening to swift-tooz announcements only, other changes are polled",
                metadata: ["error": "\(error)", "redis.protocol": "\(connection.protocolVersion)"]
            )
        }
        try await connection.subscribe([keys.releasedChannel, keys.groupChangedChannel])
        return .announcements
    }

    /// Routes one pub/sub announcement; runs on the connection's event loop, so it only signals.
    private func deliver(_ message: RedisPubSubMessage) {
        let payload = String(buffer: message.payload)
        let signal: ChangeBroadcast? = state.withLock { state in
            if message.channel == keys.releasedChannel { return state.lockSignals[payload]?.signal }
            if message.channel == keys.groupChangedChannel { return state.groupSignals[GroupID(payload)] }
            return nil
        }
        signal?.notifyAll()
    }

    /// Routes one invalidation; runs on the connection's event loop, so it only signals.
    private func invalidated(_ invalidation: RedisInvalidation) {
        guard case .keys(let changed) = invalidation else {
            wakeEveryone()
            return
        }
        let signals = state.withLock { state -> [ChangeBroadcast] in
            var woken: [ObjectIdentifier: ChangeBroadcast] = [:]
            var everyGroup = false
            for key in changed {
                for target in route.targets(of: key) {
                    switch target {
                    case .lock(let lockKey):
                        if let signal = state.lockSignals[lockKey]?.signal { woken[ObjectIdentifier(signal)] = signal }
                    case .group(let group):
                        if let signal = state.groupSignals[group] { woken[ObjectIdentifier(signal)] = signal }
                    case .everyGroup:
                        everyGroup = true
                    }
                }
            }
            if everyGroup {
                for signal in state.groupSignals.values { woken[ObjectIdentifier(signal)] = signal }
            }
            return Array(woken.values)
        }
        for signal in signals { signal.notifyAll() }
    }

    private func listenerClosed() {
        state.withLock { state in
            if let listener = state.listener, !listener.isActive {
                state.listener = nil
                state.mode = nil
            }
        }
        wakeEveryone()
    }

    private func wakeEveryone() {
        let signals = state.withLock { state in
            state.lockSignals.values.map(\.signal) + Array(state.groupSignals.values)
        }
        for signal in signals { signal.notifyAll() }
    }

    func close() async {
        let listener = state.withLock { state -> RedisConnection? in
            state.closed = true
            defer {
                state.listener = nil
                state.mode = nil
            }
            return state.listener
        }
        await listener?.close()
        wakeEveryone()
    }
}
