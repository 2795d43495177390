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
///
/// The command runs under a guard (``GuardCommand``, this executable's hidden `__guard`), which
/// leads a process group of its own that the command and its descendants share. Signals go to
/// the whole group, and the guard SIGKILLs the group the moment tooz dies, even of SIGKILL, so
/// neither the command nor anything it started outlives the lease.
struct LeasedCommand: Sendable {
    let command: [String]
    let grace: Duration
    /// The `tooz` executable that runs the guard.
    let guardExecutable: String
    private let slot = Slot()

    init(command: [String], grace: Duration, guardExecutable: String) {
        self.command = command
        self.grace = grace
        self.guardExecutable = guardExecutable
    }

    /// Spawns the command and waits for it; returns its shell status. Called inside `withLock`
    /// or `withLeadership`, whose cancellation on lease loss arrives here.
    func run(environment: [String: String]) async throws -> Int32 {
        // In a terminal's foreground, the command's group takes the terminal while it runs, so
        // the command can read it and Ctrl-C reaches it directly; tooz takes it back after.
        let foreground = isatty(0) == 1 && tcgetpgrp(0) == getpgrp()
        let seconds = Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18
        let child = try ChildProcess.spawn(
            [guardExecutable, "__guard", "--parent", String(getpid()), "--grace", String(seconds)]
                + (foreground ? ["--foreground"] : []) + ["--"] + command,
            environment: environment,
            newProcessGroup: true
        )
        slot.started(child)
        defer {
            slot.finished()
            if foreground { Self.takeTerminalBack() }
        }
        do {
            return try await child.wait().shellStatus
        } catch {
            await child.terminate(grace: grace)
            throw error
        }
    }

    /// Makes this process's group the terminal's foreground group again.
    private static func takeTerminalBack() {
        // tooz is in the background now: taking the terminal raises SIGTTOU unless ignored.
        let previous = signal(SIGTTOU, SIG_IGN)
        _ = tcsetpgrp(0, getpgrp())
        signal(SIGTTOU, previous)
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
                        // Ctrl-C in a terminal reaches the command directly (its group is the
                        // terminal's foreground); pass a SIGINT sent to tooz alone on only when
                        // the command is still running a moment later.
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
