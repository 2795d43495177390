import Synchronization

/// What this process knows about its own `ipc://` locks, shared by every backend instance of
/// the process (they all use the host's semaphores): which semaphores it holds, and which of its
/// tasks wait for which lock.
///
/// It lets a release or break in this process wake the waiters of this process directly, and
/// lets a waiter for a lock that this process holds skip the kernel wait (and its Dispatch
/// thread, and that thread's wake-up on release). Waiters for a lock held elsewhere (another
/// process, Python's included) sleep in the kernel, which tells them of releases there and of
/// dead holders. Only a shortcut: a waiter registers before it looks up the semaphore, so a
/// release between its failed try and its wait is seen either way, and every wait is bounded.
final class IPCProcessLocks: Sendable {
    typealias Gate = OneShot<Result<IPCLock.WaitOutcome, ToozError>>

    static let shared = IPCProcessLocks()

    private struct State {
        /// The id of the semaphore this process holds, by lock key.
        var held: [IPCKey: Int32] = [:]
        /// The gates of this process's waiters, by lock key.
        var waiters: [IPCKey: [ObjectIdentifier: Gate]] = [:]
    }

    private let state = Mutex(State())

    /// Notes that this process has just taken `semaphore`, the lock of `key`.
    func acquired(_ semaphore: SysVSemaphore, key: IPCKey) {
        state.withLock { $0.held[key] = semaphore.id }
    }

    /// Notes that `semaphore`, the lock of `key`, has just been removed by this process (a
    /// release), and wakes the waiters of `key`.
    func released(_ semaphore: SysVSemaphore, key: IPCKey) {
        let gates = state.withLock { state in
            if state.held[key] == semaphore.id { state.held[key] = nil }
            return state.waiters.isEmpty ? nil : state.waiters.removeValue(forKey: key)
        }
        open(gates)
    }

    /// Notes that whatever semaphore `key` had has just been removed by this process (a
    /// break), and wakes the waiters of `key`.
    func broke(_ key: IPCKey) {
        let gates = state.withLock { state in
            state.held[key] = nil
            return state.waiters.removeValue(forKey: key)
        }
        open(gates)
    }

    /// Whether `semaphore` is the lock of `key` held by this process.
    func holds(_ semaphore: SysVSemaphore, key: IPCKey) -> Bool {
        state.withLock { $0.held[key] == semaphore.id }
    }

    /// Opens `gate` when `key` is released or broken in this process, until ``remove(_:for:)``.
    func add(_ gate: Gate, for key: IPCKey) {
        state.withLock { $0.waiters[key, default: [:]][ObjectIdentifier(gate)] = gate }
    }

    func remove(_ gate: Gate, for key: IPCKey) {
        state.withLock { state in
            guard var gates = state.waiters[key] else { return }
            gates[ObjectIdentifier(gate)] = nil
            state.waiters[key] = gates.isEmpty ? nil : gates
        }
    }

    /// How many of this process's tasks wait for `key`.
    func waiterCount(for key: IPCKey) -> Int {
        state.withLock { $0.waiters[key]?.count ?? 0 }
    }

    private func open(_ gates: [ObjectIdentifier: Gate]?) {
        guard let gates else { return }
        for gate in gates.values { gate.resume(with: .success(.removed)) }
    }
}
