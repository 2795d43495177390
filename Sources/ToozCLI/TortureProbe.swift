import ToozBackends
import Synchronization

/// The harness's own client of the backend during a `tooz torture` run: it tells when a
/// restarted server answers again, watches killed workers leave the group's members, and follows
/// the group's events from a snapshot, to compare them with the members at the end.
final class TortureProbe: Sendable {
    let coordinator: Coordinator
    let group: GroupID?
    private let journal: TortureJournal
    /// How long after a kill the probe keeps looking for the member to go.
    private let giveUp: UInt64
    private let state = Mutex(State())

    private struct State {
        var killed: [String: UInt64] = [:]
        /// The server was restarted and has not answered since.
        var awaitingAnswer = false
        var streamed: Set<String>?
        var streamFailures = 0
    }

    init(coordinator: Coordinator, group: GroupID?, journal: TortureJournal, giveUp: UInt64) {
        self.coordinator = coordinator
        self.group = group
        self.journal = journal
        self.giveUp = giveUp
    }

    /// Whether the server answered since it was last restarted.
    var serverReady: Bool { state.withLock { !$0.awaitingAnswer } }

    /// Killed workers the probe still expects to leave the members.
    var watching: Bool { state.withLock { !$0.killed.isEmpty } }

    /// How many times the event stream ended with an error and was opened again.
    var streamFailures: Int { state.withLock { $0.streamFailures } }

    func killed(_ member: String, at: UInt64) {
        guard group != nil else { return }
        state.withLock { $0.killed[member] = at }
    }

    /// Stops watching killed workers; how many were still unresolved (no read succeeded).
    func stopWatching() -> Int {
        state.withLock { state in
            defer { state.killed.removeAll() }
            return state.killed.count
        }
    }

    func restarted() {
        state.withLock { $0.awaitingAnswer = true }
    }

    /// Loops until cancelled: every 100 ms, checks a restarted server and the killed members.
    func run() async {
        while !Task.isCancelled {
            if !serverReady {
                if (try? await coordinator.groups()) != nil {
                    state.withLock { $0.awaitingAnswer = false }
                    journal.record(.serverReady(at: Platform.monotonicNanoseconds()))
                }
            } else if let group, watching {
                await lookForKilled(in: group)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func lookForKilled(in group: GroupID) async {
        guard let members = try? await readMembers(of: group) else { return }
        let now = Platform.monotonicNanoseconds()
        let verdicts = state.withLock { state -> [TortureEntry] in
            var verdicts: [TortureEntry] = []
            for (member, at) in state.killed {
                if !members.contains(member) {
                    verdicts.append(.gone(member: member, at: now))
                } else if now > at + giveUp {
                    verdicts.append(.notGone(member: member, at: now))
                } else {
                    continue
                }
                state.killed[member] = nil
            }
            return verdicts
        }
        verdicts.forEach(journal.record)
    }

    /// Follows the group's events until cancelled, keeping the members they add up to.
    func followEvents() async {
        guard let group else { return }
        while !Task.isCancelled {
            do {
                var members = Set<String>()
                for try await event in try coordinator.events(in: group) {
                    switch event {
                    case .snapshot(let snapshot): members = Set(snapshot.members.keys.map(\.rawValue))
                    case .joined(let member, _): members.insert(member.rawValue)
                    case .left(let member): members.remove(member.rawValue)
                    default: continue
                    }
                    let streamed = members
                    state.withLock { $0.streamed = streamed }
                }
            } catch {
                if Task.isCancelled { return }
                state.withLock { $0.streamFailures += 1 }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Waits until the server answers, up to `deadline`; whether it did.
    func waitUntilReady(deadline: UInt64) async -> Bool {
        while Platform.monotonicNanoseconds() < deadline {
            if serverReady, (try? await coordinator.groups()) != nil { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// At the end: the streamed members must come to equal a read of them before `deadline`
    /// (an event can be on its way); journals the difference when they do not.
    func compareStreamWithMembers(deadline: UInt64) async {
        guard let group else { return }
        var read: Set<String> = []
        var streamed: Set<String>?
        repeat {
            do {
                read = try await readMembers(of: group)
            } catch {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            streamed = state.withLock { $0.streamed }
            if streamed == read { return }
            try? await Task.sleep(for: .milliseconds(100))
        } while Platform.monotonicNanoseconds() < deadline
        journal.record(
            .eventsDiffer(
                streamed: streamed.map { $0.sorted().joined(separator: ",") } ?? "no-snapshot",
                read: read.sorted().joined(separator: ","),
                at: Platform.monotonicNanoseconds()
            )
        )
    }

    /// The group's members; none when the group is gone (a restart of a server that forgets).
    private func readMembers(of group: GroupID) async throws -> Set<String> {
        do {
            return Set(try await coordinator.members(of: group).map(\.rawValue))
        } catch let error as ToozError where error.code == .groupNotCreated {
            return []
        }
    }
}
