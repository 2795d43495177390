import Testing
import ToozBackends

@testable import ToozCLI

/// The torture checker must catch what it claims to catch: a checker that cannot fail proves nothing.
@Suite struct TortureCheckerTests {
    /// A clean history: `count` holds by alternating workers, each an accepted read-increment-write.
    private func history(_ count: Int, tokens: [UInt64]? = nil) -> (journal: [TortureEntry], register: [RegisterRecord]) {
        var journal: [TortureEntry] = []
        var register: [RegisterRecord] = []
        for index in 0..<count {
            let member = "w\(index % 2)"
            let token = tokens?[index] ?? UInt64(index + 1)
            let start = UInt64(index) * 100
            register.append(RegisterRecord(operation: .read, token: token, bar: token, value: index, member: member, at: start + 1))
            register.append(RegisterRecord(operation: .write, token: token, bar: token, value: index + 1, member: member, at: start + 50))
            journal.append(.hold(member: member, token: token, start: start, end: start + 60, read: index, wrote: index + 1, outcome: .accepted))
        }
        return (journal, register)
    }

    @Test func aCleanHistoryPasses() {
        let (journal, register) = history(5)
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.violations == [])
        #expect(report.passed)
        #expect(report.holds == 5)
        #expect(report.acceptedWrites == 5)
        #expect(report.finalValue == 5)
        #expect(report.firstToken == 1 && report.lastToken == 5)
        #expect(report.maxOverlap == 0)
    }

    @Test func overlappingHoldsWithoutAPauseAreAViolation() {
        var (journal, register) = history(2)
        // w1 starts at 30, while w0 (0…60) still holds and was never paused.
        journal[1] = .hold(member: "w1", token: 2, start: 30, end: 160, read: 1, wrote: 2, outcome: .accepted)
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.overlaps == 1)
        #expect(report.maxOverlap == 30)
        #expect(report.violations.count == 1)
        #expect(report.violations.first?.contains("never paused") == true)

        // The same overlap with w0 stopped during its hold is fencing at work, not a violation.
        journal.append(.stop(member: "w0", pid: 1, at: 10, planned: 20))
        journal.append(.cont(member: "w0", pid: 1, at: 40))
        register = history(2).register
        let paused = TortureChecker.check(journal: journal, register: register)
        #expect(paused.violations == [])
        #expect(paused.overlaps == 1)
        #expect(paused.stops == 1)
    }

    @Test func aTokenGoingBackwardsIsAViolation() {
        let (journal, register) = history(3, tokens: [1, 3, 2])
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(!report.passed)
        #expect(report.violations.contains { $0.contains("fencing token went backwards") })
        #expect(report.violations.contains { $0.contains("accepted a read with token 2") })
    }

    @Test func aHolderStoppedBetweenItsAcquisitionAndItsBodyIsFencingAtWorkNotATokenViolation() {
        // w0 acquires with token 1 and is stopped before its body begins; its lease runs out, w1
        // takes the lock with token 2 and finishes; w0 wakes, its body begins (later than w1's)
        // and the register refuses its read.
        let journal: [TortureEntry] = [
            .stop(member: "w0", pid: 1, at: 5, planned: 500),
            .hold(member: "w1", token: 2, start: 300, end: 360, read: 0, wrote: 1, outcome: .accepted),
            .cont(member: "w0", pid: 1, at: 505),
            .hold(member: "w0", token: 1, start: 510, end: 512, read: -1, wrote: -1, outcome: .refusedRead),
        ]
        let register = [
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 0, member: "w1", at: 301),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 1, member: "w1", at: 350),
            RegisterRecord(operation: .refusedRead, token: 1, bar: 2, value: 1, member: "w0", at: 511),
        ]
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.violations == [])
        #expect(report.refusedReads == 1)

        // Not paused: the lock went to w1 while w0 was neither stopped nor done.
        let unpaused = TortureChecker.check(journal: journal.filter { if case .hold = $0 { true } else { false } }, register: register)
        #expect(unpaused.violations.contains { $0.contains("fencing token went backwards") })
        // Paused, but accepted with the lower token: still a violation.
        var accepted = journal
        accepted[3] = .hold(member: "w0", token: 1, start: 510, end: 512, read: 1, wrote: 2, outcome: .accepted)
        #expect(TortureChecker.check(journal: accepted, register: register).violations.contains { $0.contains("fencing token went backwards") })
    }

    @Test func aLostIncrementIsAViolation() {
        var (journal, register) = history(3)
        // The third holder read 1 instead of 2 and wrote 2 again: an update lost.
        register[4].value = 1
        register[5].value = 2
        journal[2] = .hold(member: "w0", token: 3, start: 200, end: 260, read: 1, wrote: 2, outcome: .accepted)
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.finalValue == 2)
        #expect(report.acceptedWrites == 3)
        #expect(report.violations.contains { $0.contains("increment lost") })
        #expect(report.violations.contains { $0 == "the register holds 2 after 3 accepted increments" })
    }

    @Test func refusedStaleWritesCountOnlyWhenTheHolderWasPaused() {
        // w0 reads with token 1, is stopped, w1 takes over with token 2; w0's late write is refused.
        let journal: [TortureEntry] = [
            .stop(member: "w0", pid: 1, at: 20, planned: 500),
            .cont(member: "w0", pid: 1, at: 600),
            .hold(member: "w0", token: 1, start: 0, end: 610, read: 0, wrote: -1, outcome: .refusedWrite),
            .hold(member: "w1", token: 2, start: 400, end: 460, read: 0, wrote: 1, outcome: .accepted),
        ]
        let register = [
            RegisterRecord(operation: .read, token: 1, bar: 1, value: 0, member: "w0", at: 1),
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 0, member: "w1", at: 401),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 1, member: "w1", at: 450),
            RegisterRecord(operation: .refusedWrite, token: 1, bar: 2, value: 1, member: "w0", at: 605),
        ]
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.violations == [])
        #expect(report.refusedWrites == 1)
        #expect(report.overlaps == 1)
        #expect(report.maxOverlap == 60)

        // Without the pause, the same refusal means the lock was handed on under a live holder.
        let unpaused = TortureChecker.check(journal: Array(journal.dropFirst(2)), register: register)
        #expect(unpaused.violations.count == 2)
        #expect(unpaused.violations.contains { $0.contains("refused w0's write") })
    }

    @Test func anAcceptedStaleWriteAndOverlappingFencedWritesAreViolations() {
        let register = [
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 0, member: "w1", at: 10),
            RegisterRecord(operation: .read, token: 3, bar: 3, value: 0, member: "w0", at: 20),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 1, member: "w1", at: 30),
            RegisterRecord(operation: .write, token: 3, bar: 3, value: 2, member: "w0", at: 40),
        ]
        let report = TortureChecker.check(journal: [], register: register)
        #expect(report.violations.contains { $0.contains("accepted a write with token 2") })
        #expect(report.violations.contains { $0.contains("read-increment-writes overlapped by 10 ns") })
    }

    @Test func aKilledHolderGivesTheFailoverTime() {
        let journal: [TortureEntry] = [.kill(member: "w0", pid: 1, at: 1_000)]
        let register = [
            RegisterRecord(operation: .read, token: 1, bar: 1, value: 0, member: "w0", at: 900),
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 0, member: "w1", at: 4_000),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 1, member: "w1", at: 4_100),
        ]
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.violations == [])
        #expect(report.kills == 1)
        #expect(report.killsOfHolders == 1)
        #expect(report.worstFailover == 3_000)
    }

    @Test func recordsRoundTripThroughTheirLines() {
        let entries: [TortureEntry] = [
            .hold(member: "worker-1", token: 7, start: 1, end: 2, read: 3, wrote: -1, outcome: .refusedWrite),
            .stop(member: "worker-2", pid: 42, at: 5, planned: 6), .cont(member: "worker-2", pid: 42, at: 7),
            .kill(member: "worker-3", pid: 43, at: 8), .lost(member: "worker-1", at: 9),
            .exited(member: "worker-4", status: "exited with status 1", at: 10),
            .leadStart(member: "worker-1", token: 3, at: 11), .leadEnd(member: "worker-1", token: 3, at: 12, lost: true),
            .leadEnd(member: "worker-2", token: 4, at: 13, lost: false),
        ]
        #expect(TortureEntry.parse(entries.map(\.line).joined(separator: "\n")) == entries)
        let record = RegisterRecord(operation: .refusedRead, token: 1, bar: 2, value: 3, member: "w", at: 4)
        #expect(RegisterRecord(line: Substring(record.line)) == record)
        #expect(RegisterRecord(line: "write 1 1") == nil)
    }

    @Test func leadershipTermsMustBeDisjointUnlessTheLeaderWasPaused() {
        let handedOver: [TortureEntry] = [
            .leadStart(member: "a", token: 1, at: 10), .leadEnd(member: "a", token: 1, at: 20, lost: false),
            .leadStart(member: "b", token: 2, at: 30), .kill(member: "b", pid: 2, at: 40),
            .leadStart(member: "c", token: 3, at: 45), .leadEnd(member: "c", token: 3, at: 50, lost: false),
        ]
        let clean = TortureChecker.check(journal: handedOver, register: history(1).register)
        #expect(clean.terms == 3)
        #expect(clean.termOverlaps == 0)
        #expect(clean.violations == [])

        let twoLeaders: [TortureEntry] = [
            .leadStart(member: "a", token: 1, at: 10), .leadStart(member: "b", token: 2, at: 15),
            .leadEnd(member: "a", token: 1, at: 20, lost: true), .leadEnd(member: "b", token: 2, at: 30, lost: false),
        ]
        let overlapping = TortureChecker.check(journal: twoLeaders, register: history(1).register)
        #expect(overlapping.termOverlaps == 1)
        #expect(overlapping.violations.count == 1)
        #expect(overlapping.violations.first?.hasPrefix("two leaders at once") == true)

        let pausedLeader = TortureChecker.check(
            journal: twoLeaders + [.stop(member: "a", pid: 1, at: 11, planned: 5), .cont(member: "a", pid: 1, at: 19)],
            register: history(1).register
        )
        #expect(pausedLeader.violations == [])
        #expect(pausedLeader.maxTermOverlap == 5)

        let backwards: [TortureEntry] = [
            .leadStart(member: "a", token: 2, at: 10), .leadEnd(member: "a", token: 2, at: 20, lost: false),
            .leadStart(member: "b", token: 1, at: 30), .leadEnd(member: "b", token: 1, at: 40, lost: false),
        ]
        let report = TortureChecker.check(journal: backwards, register: history(1).register)
        #expect(report.violations.count == 1)
        #expect(report.violations.first?.hasPrefix("leadership token went backwards") == true)
    }

    /// Two holds before a restart at 1_000 (tokens 1, 2), then the counter starts again: the
    /// holder of token 1 after the restart is refused by the register (bar 2).
    private func restartHistory(overlapUntil earlierEnd: UInt64 = 260) -> (journal: [TortureEntry], register: [RegisterRecord]) {
        let journal: [TortureEntry] = [
            .hold(member: "w0", token: 1, start: 100, end: 160, read: 0, wrote: 1, outcome: .accepted),
            .hold(member: "w1", token: 2, start: 200, end: earlierEnd, read: 1, wrote: 2, outcome: .accepted),
            .serverKill(at: 250), .serverReady(at: 900),
            .hold(member: "w0", token: 1, start: 1_000, end: 1_010, read: -1, wrote: -1, outcome: .refusedRead),
        ]
        let register = [
            RegisterRecord(operation: .read, token: 1, bar: 1, value: 0, member: "w0", at: 101),
            RegisterRecord(operation: .write, token: 1, bar: 1, value: 1, member: "w0", at: 150),
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 1, member: "w1", at: 201),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 2, member: "w1", at: 240),
            RegisterRecord(operation: .refusedRead, token: 1, bar: 2, value: 2, member: "w0", at: 1_005),
        ]
        return (journal, register)
    }

    @Test func aRestartThatForgetsExcusesResetTokensOnlyOnBackendsThatSaySo() {
        let (journal, register) = restartHistory()
        let forgetting = TortureChecker.check(
            journal: journal, register: register, context: .init(fencing: .failoverUnsafe, lockTTL: 2_000)
        )
        #expect(forgetting.violations == [])
        #expect(forgetting.serverRestarts == 1)
        #expect(forgetting.worstServerRecovery == 650)
        #expect(forgetting.tokenResets == 1)
        #expect(forgetting.refusalsAfterReset == 1)

        // A durable counter must never start again.
        let durable = TortureChecker.check(journal: journal, register: register, context: .init(fencing: .durable, lockTTL: 2_000))
        #expect(durable.violations.contains { $0.hasPrefix("fencing token went backwards") })
        #expect(durable.violations.contains { $0.contains("never paused") })
    }

    /// Found in a 60 s redis run: a hold that begins while the server is down was granted
    /// before the kill, whatever its start says.
    @Test func aHoldBeginningWhileTheServerIsDownBelongsToTheCounterBeforeTheRestart() {
        var (journal, register) = restartHistory()
        // w1's hold with token 2 begins at 300, after the kill (250), before the server answers (900).
        journal[1] = .hold(member: "w1", token: 2, start: 300, end: 320, read: 1, wrote: 2, outcome: .accepted)
        register[2] = RegisterRecord(operation: .read, token: 2, bar: 2, value: 1, member: "w1", at: 301)
        register[3] = RegisterRecord(operation: .write, token: 2, bar: 2, value: 2, member: "w1", at: 310)
        let report = TortureChecker.check(journal: journal, register: register, context: .init(fencing: .failoverUnsafe, lockTTL: 2_000))
        #expect(report.violations == [])
        #expect(report.tokenResets == 1)
        #expect(report.refusalsAfterReset == 1)
    }

    @Test func aHolderFromBeforeARestartMayOverlapOnlyUpToTheLeaseTTL() {
        // w1 (token 2) holds from 200 until 1_020, past the restart at 250; w0 holds again from 1_000.
        var (journal, register) = restartHistory(overlapUntil: 1_020)
        journal[4] = .hold(member: "w0", token: 3, start: 1_000, end: 1_010, read: 2, wrote: 3, outcome: .accepted)
        register[4] = RegisterRecord(operation: .read, token: 3, bar: 3, value: 2, member: "w0", at: 1_005)
        let context = TortureChecker.Context(fencing: .bestEffort, lockTTL: 2_000)
        let bounded = TortureChecker.check(journal: journal, register: register, context: context)
        #expect(bounded.violations == [])
        #expect(bounded.restartOverlaps == 1)
        #expect(bounded.maxRestartOverlap == 10)

        // The same holder running on for longer than the TTL (and the slack) after the restart.
        let late = 250 + 2_000 + TortureChecker.schedulingSlack + 1
        journal[1] = .hold(member: "w1", token: 2, start: 200, end: late, read: 1, wrote: 2, outcome: .accepted)
        let unbounded = TortureChecker.check(journal: journal, register: register, context: context)
        #expect(unbounded.violations.contains { $0.contains("before w1 (token 2) released it") })

        // On a linearizable backend the restart explains nothing.
        journal[1] = .hold(member: "w1", token: 2, start: 200, end: 1_020, read: 1, wrote: 2, outcome: .accepted)
        let linearizable = TortureChecker.check(journal: journal, register: register, context: .init(fencing: .linearizable, lockTTL: 2_000))
        #expect(linearizable.violations.contains { $0.contains("never paused") })
    }

    /// Found on memcached: right after a 1.5 s freeze two workers were granted the lock 3 ms
    /// apart (the server's once-a-second clock lagged by the pause). Excused, as a restart, on a
    /// bestEffort backend only, and only for grants up to a second after the freeze ended.
    @Test func aFreezeSkewsExpiryOnlyOnABestEffortBackend() {
        let journal: [TortureEntry] = [
            .serverStop(at: 100, planned: 1_500), .serverCont(at: 1_600),
            .hold(member: "w1", token: 1, start: 1_590, end: 1_620, read: 0, wrote: -1, outcome: .refusedWrite),
            .hold(member: "w2", token: 2, start: 1_595, end: 1_630, read: 0, wrote: 1, outcome: .accepted),
        ]
        let register = [
            RegisterRecord(operation: .read, token: 1, bar: 1, value: 0, member: "w1", at: 1_591),
            RegisterRecord(operation: .read, token: 2, bar: 2, value: 0, member: "w2", at: 1_596),
            RegisterRecord(operation: .refusedWrite, token: 1, bar: 2, value: 0, member: "w1", at: 1_610),
            RegisterRecord(operation: .write, token: 2, bar: 2, value: 1, member: "w2", at: 1_625),
        ]
        let memcached = TortureChecker.check(journal: journal, register: register, context: .init(fencing: .bestEffort, lockTTL: 2_000))
        #expect(memcached.violations == [])
        #expect(memcached.restartOverlaps == 1)
        #expect(memcached.serverRestarts == 0)
        let redis = TortureChecker.check(journal: journal, register: register, context: .init(fencing: .failoverUnsafe, lockTTL: 2_000))
        #expect(redis.violations.count == 2)
    }

    @Test func aPartitionedHolderEarnsNoExcuse() {
        var (journal, register) = history(2)
        journal[1] = .hold(member: "w1", token: 2, start: 30, end: 160, read: 1, wrote: 2, outcome: .accepted)
        journal.append(.partition(member: "w0", at: 10, planned: 20))
        journal.append(.heal(member: "w0", at: 40))
        journal.append(.serverStop(at: 5, planned: 10))
        journal.append(.serverCont(at: 15))
        register = history(2).register
        let report = TortureChecker.check(journal: journal, register: register)
        #expect(report.partitions == 1)
        #expect(report.serverStops == 1)
        #expect(report.violations.count == 1)
        #expect(report.violations.first?.contains("never paused") == true)
    }

    @Test func aKilledMemberMustLeaveWithinTheMembershipTimeout() {
        let second: UInt64 = 1_000_000_000
        let context = TortureChecker.Context(membershipTTL: 3 * second)
        let kill: TortureEntry = .kill(member: "w0", pid: 1, at: 10 * second)
        let inTime = TortureChecker.check(journal: [kill, .gone(member: "w0", at: 12 * second)], register: [], context: context)
        #expect(inTime.membersGone == 1)
        #expect(inTime.worstMemberGone == 2 * second)
        #expect(!inTime.violations.contains { $0.contains("members") })

        let late = TortureChecker.check(journal: [kill, .gone(member: "w0", at: 15 * second)], register: [], context: context)
        #expect(late.violations == ["w0 was still listed among the members 5000 ms after it was killed (membership timeout 3000 ms)"])

        let never = TortureChecker.check(journal: [kill, .notGone(member: "w0", at: 20 * second)], register: [], context: context)
        #expect(never.violations.count == 1)
        #expect(never.violations.first?.contains("when the harness stopped looking") == true)

        // A server that was stopped meanwhile could not expire anyone.
        let frozen = TortureChecker.check(
            journal: [kill, .serverStop(at: 11 * second, planned: second), .serverCont(at: 12 * second), .notGone(member: "w0", at: 20 * second)],
            register: [],
            context: context
        )
        #expect(!frozen.violations.contains { $0.contains("members") })
    }

    @Test func anEventStreamThatDisagreesWithTheMembersIsAViolation() {
        let report = TortureChecker.check(
            journal: history(1).journal + [.eventsDiffer(streamed: "w0,w1", read: "w1", at: 5)], register: history(1).register
        )
        #expect(report.violations == ["an event stream followed from its snapshot saw members [w0,w1], a read of the group [w1]"])
    }

    @Test func serverAndMembershipRecordsRoundTripThroughTheirLines() {
        let entries: [TortureEntry] = [
            .serverStop(at: 1, planned: 2), .serverCont(at: 3), .serverKill(at: 4), .serverReady(at: 5),
            .partition(member: "worker-1", at: 6, planned: 7), .heal(member: "worker-1", at: 8),
            .gone(member: "worker-2", at: 9), .notGone(member: "worker-3", at: 10),
            .eventsDiffer(streamed: "a,b", read: "", at: 11), .eventsDiffer(streamed: "no-snapshot", read: "a", at: 12),
        ]
        #expect(TortureEntry.parse(entries.map(\.line).joined(separator: "\n")) == entries)
        let context = TortureChecker.Context(fencing: .bestEffort, lockTTL: 5, leaderTTL: nil, membershipTTL: 7)
        let parsed = TortureChecker.Context(line: Substring(context.line))
        #expect(parsed?.line == context.line)
        #expect(parsed?.fencing == .bestEffort && parsed?.lockTTL == 5 && parsed?.leaderTTL == nil && parsed?.membershipTTL == 7)
        #expect(TortureChecker.Context(line: "fencing=sometimes membership_ttl=1") == nil)
    }
}
