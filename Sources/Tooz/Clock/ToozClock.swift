import Synchronization

/// The clock the coordinator measures leases, deadlines and polling with.
///
/// Injected so that TTL, renewal and expiry logic can be tested without sleeping: production
/// code uses ``ToozClock/continuous``, tests use ``ManualClock``.
public protocol ToozClock: Sendable {
    /// A monotonic reading; only differences between readings mean anything.
    func now() -> Duration
    /// Sleeps for `duration`, throwing `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
    /// Sleeps until the reading `deadline` (returns at once when it has passed), throwing
    /// `CancellationError` when the task is cancelled.
    ///
    /// A wake-up computed from an earlier reading must sleep until it, not for the difference:
    /// time that passes between the reading and the sleep would push the wake-up later.
    func sleep(until deadline: Duration) async throws
}

extension ToozClock {
    /// Sleeps for what is left until `deadline` now.
    public func sleep(until deadline: Duration) async throws {
        try await sleep(for: max(deadline - now(), .zero))
    }
}

/// The system's monotonic clock.
public struct ContinuousToozClock: ToozClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func now() -> Duration { ContinuousClock.now - origin }
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration, clock: .continuous)
    }
    public func sleep(until deadline: Duration) async throws {
        try await Task.sleep(until: origin + deadline, clock: .continuous)
    }
}

extension ToozClock where Self == ContinuousToozClock {
    /// The system's monotonic clock.
    public static var continuous: ContinuousToozClock { ContinuousToozClock() }
}

/// A clock that moves only when told to. Sleepers wake when ``advance(by:)`` passes their deadline.
///
/// Use it with `memory://` to test lease expiry, renewal and polling without real time passing.
public final class ManualClock: ToozClock {
    private struct Sleeper {
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .zero
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func now() -> Duration { state.withLock { $0.now } }

    /// The number of tasks sleeping on this clock; lets tests wait until a loop has gone to sleep.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(for duration: Duration) async throws {
        try await sleep { now in now + duration }
    }

    public func sleep(until deadline: Duration) async throws {
        try await sleep { _ in deadline }
    }

    /// Sleeps until the deadline `deadline(now)` gives, `now` read under the same lock that
    /// registers the sleeper: an advance cannot fall between the two.
    private func sleep(_ deadline: (Duration) -> Duration) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    let deadline = deadline(state.now)
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let resumeNow { continuation.resume(with: resumeNow) }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward and wakes every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now += duration
            let now = state.now
            let dueIDs = state.sleepers.filter { $0.value.deadline <= now }.keys
            return dueIDs.compactMap { state.sleepers.removeValue(forKey: $0) }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
