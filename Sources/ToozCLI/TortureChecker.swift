/// The checker of `tooz torture`: a pure function of the journal and the register's log, so it
/// can be tested on hand-made histories.
///
/// Violations (any one fails the run):
/// - **tokens**: fencing tokens not strictly increasing in acquisition order (the journaled
///   holds by start time, and the register's accepted reads in the order it served them);
/// - **stale write**: the register accepted an operation whose token is lower than one it had
///   accepted before;
/// - **lost or duplicated increment**: an accepted write that is not the previous accepted value
///   plus one, or a final value different from the number of accepted writes;
/// - **fenced overlap**: two accepted read-increment-writes (read to write, timed by the
///   register) overlapping at all — the bound is 0;
/// - **unexplained overlap / refusal**: two lock holds overlapping in time, or the register
///   refusing a holder, when the earlier (refused) holder was not paused by a SIGSTOP during its
///   hold. A paused holder whose lease ran out is what fencing is for: counted, not a violation.
struct TortureChecker: Sendable {
    struct Hold: Sendable, Hashable {
        var member: String
        var token: UInt64
        var start: UInt64
        var end: UInt64
        var outcome: TortureEntry.Outcome
    }

    struct Report: Sendable {
        var violations: [String] = []
        /// What makes the run inconclusive without being a violation: no holds, crashed workers.
        var problems: [String] = []
        var kills = 0
        var stops = 0
        var holds = 0
        var acceptedHolds = 0
        var acceptedWrites = 0
        var finalValue = 0
        var refusedReads = 0
        var refusedWrites = 0
        var lostLeases = 0
        var workerErrors = 0
        var unexpectedExits = 0
        /// The largest overlap of two journaled holds, in ns (only ever with a paused holder).
        var maxOverlap: UInt64 = 0
        var overlaps = 0
        /// The longest time from killing a worker that was between its read and its write to the
        /// next read by another worker, in ns; `nil` when no kill hit a holder there.
        var worstFailover: UInt64?
        var killsOfHolders = 0
        /// Terms of leadership journaled, and how many overlapped the next one (with a paused leader).
        var terms = 0
        var termOverlaps = 0
        var maxTermOverlap: UInt64 = 0
        var firstToken: UInt64?
        var lastToken: UInt64?

        var passed: Bool { violations.isEmpty && problems.isEmpty }
    }

    /// Intervals during which a member was stopped: from just before SIGSTOP to just after
    /// SIGCONT (or forever when the journal has no SIGCONT: killed while stopped, or run ended).
    private static func pauses(_ journal: [TortureEntry]) -> [String: [(UInt64, UInt64)]] {
        var pauses: [String: [(UInt64, UInt64)]] = [:]
        for entry in journal {
            switch entry {
            case .stop(let member, _, let at, _): pauses[member, default: []].append((at, .max))
            case .cont(let member, _, let at):
                if let index = pauses[member]?.lastIndex(where: { $0.1 == .max }) { pauses[member]![index].1 = at }
            default: break
            }
        }
        return pauses
    }

    /// Terms of leadership: disjoint, in strictly increasing token order, unless the earlier
    /// leader was paused. A term with no journaled end ends when its leader was killed.
    private static func checkLeadership(
        _ journal: [TortureEntry],
        kills: [(member: String, at: UInt64)],
        paused: (String, UInt64, UInt64) -> Bool,
        into report: inout Report
    ) {
        var terms: [(member: String, token: UInt64, start: UInt64, end: UInt64?)] = []
        for entry in journal {
            switch entry {
            case .leadStart(let member, let token, let at): terms.append((member, token, at, nil))
            case .leadEnd(let member, let token, let at, _):
                if let index = terms.lastIndex(where: { $0.member == member && $0.token == token && $0.end == nil }) {
                    terms[index].end = at
                }
            default: break
            }
        }
        for index in terms.indices where terms[index].end == nil {
            let term = terms[index]
            terms[index].end = kills.first { $0.member == term.member && $0.at >= term.start }?.at
        }
        terms.sort { $0.start < $1.start }
        report.terms = terms.count
        for (previous, next) in zip(terms, terms.dropFirst()) {
            if next.token <= previous.token {
                report.violations.append(
                    "leadership token went backwards: \(next.member) led with \(next.token) after \(previous.member) with \(previous.token)"
                )
            }
            let end = previous.end ?? .max
            guard next.start < end else { continue }
            let overlap = min(end, next.end ?? .max) - next.start
            report.termOverlaps += 1
            if paused(previous.member, previous.start, end) {
                report.maxTermOverlap = max(report.maxTermOverlap, overlap)
            } else {
                report.violations.append(
                    "two leaders at once: \(next.member) (token \(next.token)) began leading while \(previous.member) (token \(previous.token)) still led"
                        + (previous.end == nil ? " (its term never ended)" : ", and \(previous.member) was never paused")
                )
            }
        }
    }

    static func check(journal: [TortureEntry], register: [RegisterRecord]) -> Report {
        var report = Report()
        let pauses = pauses(journal)
        func paused(_ member: String, from start: UInt64, to end: UInt64) -> Bool {
            (pauses[member] ?? []).contains { $0.0 <= end && $0.1 >= start }
        }
        var holds: [Hold] = []
        var kills: [(member: String, at: UInt64)] = []
        for entry in journal {
            switch entry {
            case .hold(let member, let token, let start, let end, _, _, let outcome):
                holds.append(Hold(member: member, token: token, start: start, end: end, outcome: outcome))
            case .kill(let member, _, let at):
                report.kills += 1
                kills.append((member, at))
            case .stop: report.stops += 1
            case .lost: report.lostLeases += 1
            case .error: report.workerErrors += 1
            case .exited: report.unexpectedExits += 1
            default: break
            }
        }
        holds.sort { $0.start < $1.start }
        report.holds = holds.count
        report.acceptedHolds = holds.filter { $0.outcome == .accepted }.count

        // Tokens, in acquisition order. A hold's start is journaled when its body begins, after
        // the acquisition returned: a holder stopped in between starts after a holder that
        // acquired later (its lease ran out while it was stopped). That is fencing at work, not
        // a violation, when it was paused in that gap and the register refused it.
        for (previous, next) in zip(holds, holds.dropFirst()) where next.token <= previous.token {
            if next.outcome != .accepted, paused(next.member, from: previous.start, to: next.start) { continue }
            report.violations.append(
                "fencing token went backwards: \(next.member) held with \(next.token) after \(previous.member) with \(previous.token)"
            )
        }
        let reads = register.filter { $0.operation == .read }
        for (previous, next) in zip(reads, reads.dropFirst()) where next.token <= previous.token {
            report.violations.append(
                "the register served a read with token \(next.token) (\(next.member)) after one with \(previous.token) (\(previous.member))"
            )
        }
        let tokens = holds.map(\.token) + reads.map(\.token)
        report.firstToken = tokens.min()
        report.lastToken = tokens.max()

        // The register: no stale accepted operation, every increment exactly once.
        var highest: UInt64 = 0
        var value = 0
        var readAt: [UInt64: UInt64] = [:]
        var fenced: [(start: UInt64, end: UInt64, token: UInt64)] = []
        for record in register {
            switch record.operation {
            case .read, .write:
                if record.token < highest {
                    report.violations.append(
                        "the register accepted a \(record.operation.rawValue) with token \(record.token) (\(record.member)) after token \(highest)"
                    )
                }
                highest = max(highest, record.token)
                if record.operation == .read {
                    readAt[record.token] = record.at
                    continue
                }
                report.acceptedWrites += 1
                if record.value != value + 1 {
                    report.violations.append(
                        record.value <= value
                            ? "increment lost: \(record.member) wrote \(record.value) over \(value) (token \(record.token))"
                            : "value skipped: \(record.member) wrote \(record.value) over \(value) (token \(record.token))"
                    )
                }
                value = record.value
                fenced.append((readAt[record.token] ?? record.at, record.at, record.token))
            case .refusedRead, .refusedWrite:
                if record.operation == .refusedRead { report.refusedReads += 1 } else { report.refusedWrites += 1 }
                let ownStart = holds.first { $0.member == record.member && $0.token == record.token }?.start ?? readAt[record.token] ?? 0
                // The lock was handed on when a later token's hold began: the refused holder must
                // have been paused at some point from then (or from its own start, if earlier:
                // a pause between its acquisition and its body counts) until the refusal.
                let handedOn = holds.lazy.filter { $0.token > record.token }.map(\.start).min() ?? ownStart
                if !paused(record.member, from: min(ownStart, handedOn), to: record.at) {
                    report.violations.append(
                        "the register refused \(record.member)'s \(record.operation == .refusedRead ? "read" : "write") with token \(record.token) (bar \(record.bar)), and \(record.member) was never paused: the lock was handed on while it held it"
                    )
                }
            }
        }
        report.finalValue = value
        if value != report.acceptedWrites {
            report.violations.append("the register holds \(value) after \(report.acceptedWrites) accepted increments")
        }

        // Fenced read-to-write spans never overlap.
        fenced.sort { $0.start < $1.start }
        for (previous, next) in zip(fenced, fenced.dropFirst()) where next.start < previous.end {
            report.violations.append(
                "accepted read-increment-writes overlapped by \(previous.end - next.start) ns (tokens \(previous.token) and \(next.token))"
            )
        }

        // Lock holds overlap only when the earlier holder was paused.
        var latest: Hold?
        for hold in holds {
            if let earlier = latest, hold.start < earlier.end {
                let overlap = min(earlier.end, hold.end) - hold.start
                report.overlaps += 1
                report.maxOverlap = max(report.maxOverlap, overlap)
                if !paused(earlier.member, from: earlier.start, to: earlier.end) {
                    report.violations.append(
                        "\(hold.member) (token \(hold.token)) held the lock \(overlap / 1_000_000) ms before \(earlier.member) (token \(earlier.token)) released it, and \(earlier.member) was never paused"
                    )
                }
            }
            if latest.map({ hold.end > $0.end }) ?? true { latest = hold }
        }

        // Failover: a kill between a holder's read and its write, to the next read by someone else.
        for kill in kills {
            guard let last = register.last(where: { $0.member == kill.member && $0.at <= kill.at }), last.operation == .read else {
                continue
            }
            report.killsOfHolders += 1
            if let next = register.first(where: { $0.at > kill.at && $0.member != kill.member && $0.operation == .read }) {
                report.worstFailover = max(report.worstFailover ?? 0, next.at - kill.at)
            }
        }
        checkLeadership(journal, kills: kills, paused: paused, into: &report)
        if report.holds == 0 && report.acceptedWrites == 0 {
            report.problems.append("no worker ever held the lock")
        }
        if report.unexpectedExits > 0 {
            report.problems.append("\(report.unexpectedExits) worker(s) exited on their own (see their logs)")
        }
        return report
    }
}
