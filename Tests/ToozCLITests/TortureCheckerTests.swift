import Testing

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
}
