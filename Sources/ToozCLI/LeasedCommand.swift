#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Runs a user's command under a lease (`tooz lock`, `tooz elect`) and supervises it: signals
/// sent to tooz are passed on, and cancellation (the lease was lost, or tooz was interrupted
/// before the command started) terminates the command with SIGTERM, then SIGKILL.
struct LeasedCommand: Sendable {
    let command: [String]
    let grace: Duration
    private let slot = Slot()

    init(command: [String], grace: Duration) {
        self.command = command
        self.grace = grace
    }

    /// Spawns the command and waits for it; returns its shell status. Called inside `withLock`
    /// or `withLeadership`, whose cancellation on lease loss arrives here.
    func run(environment: [String: String]) async throws -> Int32 {
        let child = try ChildProcess.spawn(command, environment: environment)
        slot.started(child)
        defer { slot.finished() }
        do {
            return try await child.wait().shellStatus
        } catch {
            await child.terminate(grace: grace)
            throw error
        }
    }

    /// Runs `body` (which acquires the lease and calls ``run(environment:)``), passing signals
    /// on to the command while it runs. A signal that arrives before the command has started
    /// abandons the wait and throws ``Interrupted``.
    func supervise(
        signals watcher: SignalWatcher,
        _ body: @escaping @Sendable () async throws -> Int32
    ) async throws -> Int32 {
        try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                for await number in watcher.signals {
                    if number == SIGINT, slot.phase == .running {
                        // Ctrl-C in a terminal reaches the command directly, through the process
                        // group; pass it on only when the command is still running a moment later.
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    switch slot.forward(number) {
                    case .waiting: throw Interrupted(signal: number)
                    case .running, .finished: continue
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let status = next { return status }
            }
            throw CancellationError()
        }
    }

    enum Phase: Sendable {
        case waiting
        case running
        case finished
    }

    private final class Slot: Sendable {
        private struct State {
            var phase: Phase = .waiting
            var child: ChildProcess?
        }

        private let state = Mutex(State())

        var phase: Phase { state.withLock { $0.phase } }

        func started(_ child: ChildProcess) {
            state.withLock {
                $0.phase = .running
                $0.child = child
            }
        }

        func finished() {
            state.withLock {
                $0.phase = .finished
                $0.child = nil
            }
        }

        /// Sends `number` to the command if it runs; returns the phase it was in.
        func forward(_ number: Int32) -> Phase {
            state.withLock { state in
                state.child?.signal(number)
                return state.phase
            }
        }
    }
}
