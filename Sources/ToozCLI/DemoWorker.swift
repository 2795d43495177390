import ArgumentParser
import Foundation
import ToozBackends

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tooz demo-worker` (hidden): one worker process of `tooz demo`.
///
/// Joins the group, campaigns for its leadership for as long as it works, waits for the go
/// file, then increments the shared counter under the lock, journaling everything it does.
struct DemoWorkerCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-worker",
        abstract: "One worker process of `tooz demo` (internal).",
        shouldDisplay: false
    )

    @OptionGroup var global: GlobalOptions
    @Option var group: String
    @Option var lock: String
    @Option var counter: String
    @Option var journal: String
    @Option var go: String
    @Option var increments: Int
    @Option var holdMs: Int = 2
    @Option(help: "The demo's pid: the worker exits when it is orphaned.") var parent: Int32

    private enum Outcome: Sendable {
        case workDone
        case stopped
    }

    func run() async throws {
        let journal = try DemoJournal(path: self.journal)
        let member = global.resolvedMember()
        let settings = self
        do {
            try await global.withCoordinator(member: member) { coordinator in
                try await settings.work(coordinator, journal: journal)
            }
        } catch {
            journal.record(.failed(member: member.rawValue, message: "\(error)".replacingOccurrences(of: "\n", with: " ")))
            throw error
        }
    }

    private func work(_ coordinator: Coordinator, journal: DemoJournal) async throws {
        let member = coordinator.member.rawValue
        let group = GroupID(self.group)
        let pid = Platform.processID
        try await coordinator.join(group, capabilities: ["role": "demo-worker", "pid": .int(Int64(pid))])
        journal.record(.joined(member: member, pid: pid, at: Platform.monotonicNanoseconds()))
        let parent = self.parent
        try await withThrowingTaskGroup(of: Outcome.self) { tasks in
            tasks.addTask {
                await DemoWorkerCommand.exitWhenOrphaned(parent: parent)
                return .stopped
            }
            tasks.addTask {
                try await DemoWorkerCommand.campaign(coordinator, group: group, journal: journal)
                return .stopped
            }
            let settings = self
            tasks.addTask {
                try await settings.increment(coordinator, journal: journal)
                return .workDone
            }
            while let outcome = try await tasks.next() {
                if case .workDone = outcome { tasks.cancelAll() }
            }
        }
        journal.record(.done(member: member, at: Platform.monotonicNanoseconds()))
    }

    /// Leads whenever it can, journaling each term, until cancelled.
    private static func campaign(_ coordinator: Coordinator, group: GroupID, journal: DemoJournal) async throws {
        let member = coordinator.member.rawValue
        do {
            try await coordinator.withLeadership(of: group) { lease in
                let token = lease.fencingToken.value
                journal.record(.leadStart(member: member, token: token, at: Platform.monotonicNanoseconds()))
                // Lead until the work is done (cancellation) or the lease is lost.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(3600))
                }
                journal.record(.leadEnd(member: member, token: token, at: Platform.monotonicNanoseconds()))
            }
        } catch {
            // Cancelled while campaigning: the work is done.
            if !Task.isCancelled { throw error }
        }
    }

    /// Waits for the go file, then does the read-sleep-write increments under the lock.
    private func increment(_ coordinator: Coordinator, journal: DemoJournal) async throws {
        while !Platform.fileExists(go) { try await Task.sleep(for: .milliseconds(5)) }
        let member = coordinator.member.rawValue
        let lockName = LockName(lock)
        let counter = self.counter
        let hold = Duration.milliseconds(holdMs)
        for _ in 0..<increments {
            try await coordinator.withLock(named: lockName) { lease in
                let start = Platform.monotonicNanoseconds()
                let text = Platform.readFile(counter) ?? "0"
                let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                // The pause between read and write is what would turn any overlap into a lost update.
                try await Task.sleep(for: hold)
                try Platform.writeFile(counter, "\(value + 1)\n")
                let end = Platform.monotonicNanoseconds()
                journal.record(
                    .lock(member: member, token: lease.fencingToken.value, start: start, end: end, read: value)
                )
            }
        }
    }

    /// Exits at once when the demo process is gone, so a crashed demo leaves no worker behind.
    static func exitWhenOrphaned(parent: Int32) async {
        while !Task.isCancelled {
            if Platform.parentProcessID != parent { _exit(70) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
