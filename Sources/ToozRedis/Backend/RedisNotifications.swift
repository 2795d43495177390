import Logging
import NIOCore
import Synchronization
import Tooz

/// The pub/sub side of the backend: one subscriber connection that hears swift-tooz members
/// announce lock releases and group changes, and the signals that wake local waiters.
///
/// Notifications only shorten waits. Python tooz members announce nothing, and a message can
/// be lost while the subscriber reconnects, so every waiter still re-checks on a timer; when the
/// subscriber connection drops, every waiter is woken to re-check at once.
final class RedisNotifications: Sendable {
    private let keys: RedisKeys
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// Lock key → its signal and how many waits use it, so that idle keys are forgotten.
        var lockSignals: [String: (signal: ChangeBroadcast, users: Int)] = [:]
        var groupSignals: [GroupID: ChangeBroadcast] = [:]
        var subscriber: RedisConnection?
        var connecting = false
        var nextAttempt: ContinuousClock.Instant?
        var failures = 0
        var closed = false
    }

    init(keys: RedisKeys, logger: Logger) {
        self.keys = keys
        self.logger = logger
    }

    // MARK: Signals

    /// The signal woken when a lock is announced free, held until ``releaseLockSignal(_:)``.
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

    /// The signal woken when a swift-tooz member changes `group`.
    func groupSignal(_ group: GroupID) -> ChangeBroadcast {
        state.withLock { state in
            if let signal = state.groupSignals[group] { return signal }
            let signal = ChangeBroadcast()
            state.groupSignals[group] = signal
            return signal
        }
    }

    /// Whether anyone listens for group changes, in which case reads keep the subscriber up.
    var hasGroupListeners: Bool { state.withLock { !$0.groupSignals.isEmpty } }

    // MARK: Subscriber

    /// Makes sure the subscriber is connected and returns whether it is. Never waits for a
    /// connection attempt another task has started, and never throws: without notifications,
    /// waiters fall back to polling.
    func ensureSubscribed(using client: RedisClient) async -> Bool {
        let shouldConnect = state.withLock { state -> Bool? in
            if state.closed { return false }
            if let subscriber = state.subscriber, subscriber.isActive { return nil }
            if state.connecting { return false }
            if let next = state.nextAttempt, next > .now { return false }
            state.connecting = true
            return true
        }
        guard let shouldConnect else { return true }
        guard shouldConnect else { return false }

        let channels = [keys.releasedChannel, keys.groupChangedChannel]
        var subscriber: RedisConnection?
        do {
            let connection = try await client.openDedicatedConnection(
                onMessage: { [weak self] message in self?.deliver(message) },
                onClose: { [weak self] in self?.subscriberClosed() }
            )
            subscriber = connection
            try await connection.subscribe(channels)
        } catch {
            logger.debug("redis subscriber could not connect; waiters poll", metadata: ["error": "\(error)"])
            await subscriber?.close()
            subscriber = nil
        }
        let orphan = state.withLock { state -> RedisConnection? in
            state.connecting = false
            guard let subscriber, !state.closed else {
                state.failures += 1
                state.nextAttempt = .now + min(.milliseconds(100) * (1 << min(state.failures - 1, 10)), .seconds(2))
                return subscriber
            }
            state.failures = 0
            state.nextAttempt = nil
            state.subscriber = subscriber
            return nil
        }
        await orphan?.close()
        // Anything released while we were not listening would be missed: let waiters re-check.
        if subscriber != nil, orphan == nil { wakeEveryone() }
        return subscriber != nil && orphan == nil
    }

    /// Routes one pub/sub message; runs on the connection's event loop, so it only signals.
    private func deliver(_ message: RedisPubSubMessage) {
        let payload = String(buffer: message.payload)
        let signal: ChangeBroadcast? = state.withLock { state in
            if message.channel == keys.releasedChannel { return state.lockSignals[payload]?.signal }
            if message.channel == keys.groupChangedChannel { return state.groupSignals[GroupID(payload)] }
            return nil
        }
        signal?.notifyAll()
    }

    private func subscriberClosed() {
        state.withLock { state in
            if let subscriber = state.subscriber, !subscriber.isActive { state.subscriber = nil }
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
        let subscriber = state.withLock { state -> RedisConnection? in
            state.closed = true
            defer { state.subscriber = nil }
            return state.subscriber
        }
        await subscriber?.close()
        wakeEveryone()
    }
}
