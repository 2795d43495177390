import ArgumentParser
import Synchronization
import ToozBackends

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tooz torture-worker` (hidden): one worker process of `tooz torture`.
///
/// Until the stop file appears, loops: takes the lock with `withLock`, and inside it reads the
/// fenced register with the lease's token, sleeps --hold-ms, writes the value plus one with the
/// same token, and journals the hold (start and end on the monotonic clock, the values, and
/// whether the register accepted both steps).
struct TortureWorkerCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture-worker",
        abstract: "One worker process of `tooz torture` (internal).",
        shouldDisplay: false
    )

    @OptionGroup var global: GlobalOptions
    @Option var lock: String
    @Option var register: String
    @Option var journal: String
    @Option var stopFile: String
    @Option var holdMs: Int = 5
    @Option(help: "The group whose leadership the worker campaigns for, on and off; none without it.") var group: String?
    @Option(help: "The harness's pid: the worker exits when it is orphaned.") var parent: Int32

    func run() async throws {
        let journal = try TortureJournal(path: self.journal)
        let register = try FencedRegister(path: self.register)
        let member = global.resolvedMember().rawValue
        let settings = self
        let started = StartedFlag()
        // A worker started while the server is stopped or restarting cannot connect yet: it
        // keeps trying, as a service would, instead of exiting (which the harness would count
        // against the run).
        while true {
            do {
                try await runOnce(settings, started: started, journal: journal, register: register, member: member)
                return
            } catch let error as ToozError where !started.isSet && !Platform.fileExists(stopFile)
                && (error.code == .connectionFailed || error.code == .timedOut)
            {
                journal.record(.error(member: member, message: "could not connect yet: \(error)"))
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func runOnce(
        _ settings: TortureWorkerCommand,
        started: StartedFlag,
        journal: TortureJournal,
        register: FencedRegister,
        member: String
    ) async throws {
        try await global.withCoordinator(member: global.resolvedMember()) { coordinator in
            started.set()
            try await withThrowingTaskGroup(of: Bool.self) { tasks in
                let parent = settings.parent
                tasks.addTask {
                    await DemoWorkerCommand.exitWhenOrphaned(parent: parent)
                    return false
                }
                if let group = settings.group {
                    tasks.addTask {
                        await TortureWorkerCommand.campaign(coordinator, group: GroupID(group), member: member, journal: journal)
                        return false
                    }
                }
                tasks.addTask {
                    try await settings.work(coordinator, member: member, journal: journal, register: register)
                    return true
                }
                // The work ends when the stop file appears; then stop campaigning and watching the parent.
                while let workDone = try await tasks.next(), !workDone {}
                tasks.cancelAll()
            }
        }
    }

    /// Wins the leadership, leads 100-500 ms, stands down, and again, until cancelled; journals
    /// each term. Errors are journaled and the campaign goes on.
    private static func campaign(_ coordinator: Coordinator, group: GroupID, member: String, journal: TortureJournal) async {
        do {
            _ = try await coordinator.createGroupIfNeeded(group)
            try await coordinator.join(group)
        } catch {
            if !Task.isCancelled { journal.record(.error(member: member, message: "could not join \(group.rawValue): \(error)")) }
            return
        }
        while !Task.isCancelled {
            do {
                try await coordinator.withLeadership(of: group) { lease in
                    let token = lease.fencingToken.value
                    journal.record(.leadStart(member: member, token: token, at: Platform.monotonicNanoseconds()))
                    do {
                        try await Task.sleep(for: .milliseconds(Int.random(in: 100...500)))
                    } catch {
                        journal.record(.leadEnd(member: member, token: token, at: Platform.monotonicNanoseconds(), lost: true))
                        throw error
                    }
                    journal.record(.leadEnd(member: member, token: token, at: Platform.monotonicNanoseconds(), lost: false))
                }
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                if Task.isCancelled { return }
                if (error as? ToozError)?.code != .leaseLost {
                    journal.record(.error(member: member, message: "leadership: \(error)"))
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func work(_ coordinator: Coordinator, member: String, journal: TortureJournal, register: FencedRegister) async throws {
        let lockName = LockName(lock)
        let hold = Duration.milliseconds(holdMs)
        while !Platform.fileExists(stopFile) {
            do {
                try await coordinator.withLock(named: lockName) { lease in
                    let token = lease.fencingToken.value
                    let start = Platform.monotonicNanoseconds()
                    var (read, wrote, outcome) = (-1, -1, TortureEntry.Outcome.refusedRead)
                    if let value = register.read(token: token, member: member) {
                        read = value
                        // The pause between read and write is where a stale holder would lose an update.
                        try await Task.sleep(for: hold)
                        if register.write(value + 1, token: token, member: member) {
                            (wrote, outcome) = (value + 1, .accepted)
                        } else {
                            outcome = .refusedWrite
                        }
                    }
                    let end = Platform.monotonicNanoseconds()
                    journal.record(
                        .hold(member: member, token: token, start: start, end: end, read: read, wrote: wrote, outcome: outcome)
                    )
                }
            } catch let error as ToozError where error.code == .leaseLost {
                journal.record(.lost(member: member, at: Platform.monotonicNanoseconds()))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                journal.record(.error(member: member, message: "\(error)"))
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// The journal `tooz torture` and its workers append to: one `write(2)` per line on an
/// `O_APPEND` descriptor, so lines from concurrent processes never interleave.
final class TortureJournal: Sendable {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIFailure(.software, "could not open the journal \(path): \(Platform.errorDescription(errno))")
        }
    }

    deinit { close(fd) }

    func record(_ entry: TortureEntry) {
        _ = Platform.writeAll(fd, Array((entry.line + "\n").utf8))
    }
}

/// Whether a worker's coordinator ever ran (after that, a connection failure is not a start-up one).
private final class StartedFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .relaxed) }

    func set() { value.store(true, ordering: .relaxed) }
}
