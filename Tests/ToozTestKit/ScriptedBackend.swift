import Synchronization
import Tooz

/// Wraps a backend and lets a test script what its lock refreshes do (answer, hang, answer
/// late) and send the signals a backend reports, so the core's loss handling can be driven
/// with a ``ManualClock`` and no server.
package final class ScriptedBackend: ForwardingBackend {
    /// What a refresh of one lock does.
    package enum RefreshScript: Sendable {
        /// Passes it on.
        case forward
        /// Never answers; ends only when the core abandons it (cancels it).
        case hang
        /// Answers `true` once ``answerLateRefreshes()`` is called, even if cancelled meanwhile.
        case answerLate
    }

    package let base: any CoordinationBackend
    private let scripts = Mutex<[LockKey: RefreshScript]>([:])
    private let context = Mutex<BackendContext?>(nil)
    private let lateWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let started = Mutex<[LockKey: Int]>([:])
    private let backdated = Mutex<[LockKey: Duration]>([:])

    package init(base: any CoordinationBackend) {
        self.base = base
    }

    /// Sets what refreshes of `key` do from now on.
    package func script(_ key: LockKey, _ script: RefreshScript) {
        scripts.withLock { $0[key] = script }
    }

    /// Lets every refresh scripted ``RefreshScript/answerLate`` answer.
    package func answerLateRefreshes() {
        let waiters = lateWaiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Makes the next grant of `key` claim its lease was proven at `validFrom`: an answer that
    /// took that long to arrive.
    package func backdateNextGrant(of key: LockKey, to validFrom: Duration) {
        backdated.withLock { $0[key] = validFrom }
    }

    package func acquire(_ request: AcquireRequest) async throws -> LockGrant? {
        guard var grant = try await base.acquire(request) else { return nil }
        if let validFrom = backdated.withLock({ $0.removeValue(forKey: request.key) }) { grant.validFrom = validFrom }
        return grant
    }

    /// How many refreshes of `key` were sent.
    package func refreshCount(_ key: LockKey) -> Int { started.withLock { $0[key, default: 0] } }

    /// Reports `signal` to the coordinator, as the backend would.
    package func report(_ signal: BackendSignal) {
        context.withLock { $0 }?.report(signal)
    }

    package func connect(_ context: BackendContext) async throws {
        self.context.withLock { $0 = context }
        try await base.connect(context)
    }

    package func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        started.withLock { $0[key, default: 0] += 1 }
        switch scripts.withLock({ $0[key] ?? .forward }) {
        case .forward:
            return try await base.refresh(key, grant: grant, ttl: ttl)
        case .hang:
            try await ChangeBroadcast().wait(since: 0)
            return true
        case .answerLate:
            // Not cancellable: a late answer arrives whatever the caller did meanwhile.
            await withCheckedContinuation { continuation in lateWaiters.withLock { $0.append(continuation) } }
            return true
        }
    }
}
