import Synchronization
import Testing
import ToozTestKit

@testable import Tooz

/// A leave and a heartbeat in flight at the same moment: the heartbeat finds the record the
/// leave just deleted and reports it missing. The coordinator must not re-join a group it is
/// leaving (under load on CI this put a member back and made the next `deleteGroup` fail with
/// groupNotEmpty, on etcd and ZooKeeper alike).
@Suite struct LeaveRejoinRaceTests {
    /// Holds the leave of "left" on the backend until the heartbeat loop has either re-joined
    /// that group (the bug) or beaten without it (the fix), so both orders are decided, not raced.
    final class RaceBackend: ForwardingBackend {
        let base: any CoordinationBackend
        private let progress = Mutex(Progress())
        let changed = ChangeBroadcast()

        struct Progress {
            var leaving = false
            var rejoined = false
            var beatWithoutLeft = false
        }

        init(base: any CoordinationBackend) { self.base = base }

        var rejoined: Bool { progress.withLock { $0.rejoined } }

        func leave(_ group: GroupID, member: MemberID) async throws {
            try await base.leave(group, member: member)
            guard group == "left" else { return }
            progress.withLock { $0.leaving = true }
            changed.notifyAll()
            try await eventually("a re-join or a beat without the group") {
                progress.withLock { $0.rejoined || $0.beatWithoutLeft }
            }
        }

        func join(_ group: GroupID, member: MemberID, capabilities: Capabilities) async throws {
            try await base.join(group, member: member, capabilities: capabilities)
            if group == "left" { progress.withLock { if $0.leaving { $0.rejoined = true } } }
        }

        func heartbeat(member: MemberID, groups: Set<GroupID>) async throws -> HeartbeatResult {
            let result = try await base.heartbeat(member: member, groups: groups)
            progress.withLock { if $0.leaving && !groups.contains("left") { $0.beatWithoutLeft = true } }
            return result
        }
    }

    @Test func aHeartbeatThatFindsTheRecordGoneDuringALeaveDoesNotJoinAgain() async throws {
        let clock = ManualClock()
        let store = MemoryStore(clock: clock)
        let backend = RaceBackend(base: MemoryBackend(store: store, membershipTTL: .seconds(30)))
        var configuration = CoordinatorConfiguration()
        configuration.membershipTTL = .seconds(30)
        let interval = configuration.heartbeatInterval
        let coordinator = try Coordinator(backend: backend, member: "a", configuration: configuration, clock: clock)
        try await coordinator.withRunning {
            try await coordinator.createGroup("left")
            try await coordinator.createGroup("kept")
            try await coordinator.join("left")
            // A second group keeps the heartbeats going once "left" is gone.
            try await coordinator.join("kept")
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await coordinator.leave("left") }
                // The record is deleted and the leave waits: now the next heartbeat is due.
                try await eventually("the leave to reach the store") {
                    (try? await backend.base.memberNames(of: "left").isEmpty) ?? false
                }
                // The renewal and heartbeat loops asleep: a loop still running could read the
                // time before the advance and then sleep past it for good.
                try await eventually { clock.sleeperCount >= 2 }
                clock.advance(by: interval)
                try await tasks.waitForAll()
            }
            #expect(!backend.rejoined, "the heartbeat re-joined a group that was being left")
            #expect(try await coordinator.members(of: "left").isEmpty)
            try await coordinator.deleteGroup("left")
        }
    }
}
