import ToozBackends

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
///   A partitioned holder or a frozen server earns no such excuse: the process runs, and the core
///   must stop its body before the server can hand the lock on.
/// - **server restarts**: on a backend whose fencing does not survive a restart of its server
///   (``FencingStrength/failoverUnsafe``, ``FencingStrength/bestEffort``), a restart of a server that
///   keeps no data forgets every lock and the fencing counter: tokens start again below the
///   register's bar (the register refuses the new holders: counted, not a violation), and a holder
///   from before the restart may go on until its lease runs out, beside a new holder — but no
///   longer than the lease TTL (plus ``schedulingSlack``) after the restart. On a durable or
///   linearizable backend a restart excuses nothing. On a ``FencingStrength/bestEffort``
///   backend (memcached) a server stop counts as such a restart until a second after it ends:
///   memcached's once-a-second expiry clock lags by the whole pause until it ticks again.
/// - **membership**: a killed worker must be gone from the group's members within the
///   membership timeout (plus ``schedulingSlack``) unless the server was stopped or restarted
///   meanwhile; an event stream followed from its snapshot must agree with the members at the end.
struct TortureChecker: Sendable {
    /// What the checker must know of the run to judge it.
    struct Context: Sendable {
        /// How far the backend's fencing tokens can be trusted (whether they survive a restart).
        var fencing: FencingStrength = .durable
        /// The lock and leader leases' TTL in ns; `nil` for session leases.
        var lockTTL: UInt64?
        var leaderTTL: UInt64?
        /// The membership timeout in ns.
        var membershipTTL: UInt64 = 30_000_000_000

        /// Whether a restart of the server may reset fencing tokens and forget locks.
        var restartForgets: Bool { fencing == .failoverUnsafe || fencing == .bestEffort }

        /// One line, kept with a run's history so that the checker can be run on it again.
        var line: String {
            "fencing=\(fencing.rawValue) lock_ttl=\(lockTTL.map(String.init) ?? "-") leader_ttl=\(leaderTTL.map(String.init) ?? "-") membership_ttl=\(membershipTTL)"
        }

        init(fencing: FencingStrength = .durable, lockTTL: UInt64? = nil, leaderTTL: UInt64? = nil, membershipTTL: UInt64 = 30_000_000_000) {
            (self.fencing, self.lockTTL, self.leaderTTL, self.membershipTTL) = (fencing, lockTTL, leaderTTL, membershipTTL)
        }

        init?(line: Substring) {
            var fields: [Substring: Substring] = [:]
            for pair in line.split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                fields[parts[0]] = parts[1]
            }
            guard let fencing = fields["fencing"].flatMap({ FencingStrength(rawValue: String($0)) }),
                let membership = fields["membership_ttl"].flatMap({ UInt64($0) })
            else { return nil }
            self.init(
                fencing: fencing,
                lockTTL: fields["lock_ttl"].flatMap { UInt64($0) },
                leaderTTL: fields["leader_ttl"].flatMap { UInt64($0) },
                membershipTTL: membership
            )
        }
    }

    /// Room for a loaded machine between a deadline and the moment a process acts on it: the
    /// bounds above are TTLs, and a process on a busy 2-core host can be off the CPU for a while.
    static let schedulingSlack: UInt64 = 1_000_000_000

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
        /// Server faults: SIGSTOPs, restarts; partitions of workers.
        var serverStops = 0
        var serverRestarts = 0
        var partitions = 0
        /// The longest time from killing the server to its first answer again, in ns.
        var worstServerRecovery: UInt64?
        /// Fencing tokens that started again below earlier ones after a restart of a server that
        /// forgets (``Context/restartForgets``), and the register's refusals of the new holders.
        var tokenResets = 0
        var refusalsAfterReset = 0
        /// Overlaps of a holder from before a restart with one after it, on a server that forgets.
        var restartOverlaps = 0
        var maxRestartOverlap: UInt64 = 0
        /// Killed workers found gone from the members, and the longest time it took, in ns.
        var membersGone = 0
        var worstMemberGone: UInt64?
        /// How many times the harness's event stream ended with an error and was opened again.
        var streamFailures = 0
        /// Workers that did not finish within the TTL + 15 s of the stop file (killed then):
        /// a liveness defect, not a safety one.
        var stuckWorkers = 0

        var passed: Bool { violations.isEmpty && problems.isEmpty }
    }

    /// Intervals between journal entries that open and close them, by key: `edge` says of an
    /// entry which key it opens (`true`) or closes (`false`) an interval of, and when. An
    /// interval never closed lasts forever (`.max`).
    private static func intervals(
        _ journal: [TortureEntry],
        edge: (TortureEntry) -> (key: String, opens: Bool, at: UInt64)?
    ) -> [String: [(UInt64, UInt64)]] {
        var intervals: [String: [(UInt64, UInt64)]] = [:]
        for entry in journal {
            guard let (key, opens, at) = edge(entry) else { continue }
            if opens {
                intervals[key, default: []].append((at, .max))
            } else if let index = intervals[key]?.lastIndex(where: { $0.1 == .max }) {
                intervals[key]![index].1 = at
            }
        }
        return intervals
    }

    /// Intervals during which a member was stopped: from just before SIGSTOP to just after
    /// SIGCONT (or forever when the journal has no SIGCONT: killed while stopped, or run ended).
    private static func pauses(_ journal: [TortureEntry]) -> [String: [(UInt64, UInt64)]] {
        intervals(journal) { entry in
            switch entry {
            case .stop(let member, _, let at, _): (member, true, at)
            case .cont(let member, _, let at): (member, false, at)
            default: nil
            }
        }
    }

    /// When the server was unable to act: from SIGSTOP to SIGCONT, from SIGKILL to its first answer.
    private static func serverOutages(_ journal: [TortureEntry]) -> [(UInt64, UInt64)] {
        intervals(journal) { entry in
            switch entry {
            case .serverStop(let at, _), .serverKill(let at): ("server", true, at)
            case .serverCont(let at), .serverReady(let at): ("server", false, at)
            default: nil
            }
        }["server"] ?? []
    }

    /// Terms of leadership: disjoint, in strictly increasing token order, unless the earlier
    /// leader was paused. A term with no journaled end ends when its leader was killed.
    private static func checkLeadership(
        _ journal: [TortureEntry],
        kills: [(member: String, at: UInt64)],
        paused: (String, UInt64, UInt64) -> Bool,
        forgottenByRestart: (_ earlierStart: UInt64, _ laterStart: UInt64) -> UInt64?,
        leaseTTL: UInt64?,
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
            let restart = forgottenByRestart(previous.start, next.start)
            if next.token <= previous.token, restart == nil {
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
            } else if let restart, let ttl = leaseTTL, end <= restart + ttl + schedulingSlack {
                report.restartOverlaps += 1
                report.maxRestartOverlap = max(report.maxRestartOverlap, overlap)
            } else {
                report.violations.append(
                    "two leaders at once: \(next.member) (token \(next.token)) began leading while \(previous.member) (token \(previous.token)) still led"
                        + (previous.end == nil ? " (its term never ended)" : ", and \(previous.member) was never paused")
                )
            }
        }
    }

    static func check(journal: [TortureEntry], register: [RegisterRecord], context: Context = Context()) -> Report {
        var report = Report()
        let pauses = pauses(journal)
        func paused(_ member: String, from start: UInt64, to end: UInt64) -> Bool {
            (pauses[member] ?? []).contains { $0.0 <= end && $0.1 >= start }
        }
        let outages = serverOutages(journal)
        func serverOut(from start: UInt64, to end: UInt64) -> Bool {
            outages.contains { $0.0 <= end && $0.1 >= start }
        }
        var serverKills: Set<UInt64> = []
        for entry in journal {
            switch entry {
            case .serverKill(let at): serverKills.insert(at)
            case .serverStop: report.serverStops += 1
            case .partition: report.partitions += 1
            default: break
            }
        }
        // Each restart, from the kill to the server's first answer.
        var restarts = outages.filter { serverKills.contains($0.0) }
        report.serverRestarts = restarts.count
        if context.fencing == .bestEffort {
            // memcached: a freeze leaves its once-a-second expiry clock behind by the whole pause
            // until its next tick: locks granted then may expire at once, as after a restart.
            restarts += outages.filter { !serverKills.contains($0.0) }.map { ($0.0, $0.1 == .max ? .max : $0.1 + 1_000_000_000) }
            restarts.sort { $0.0 < $1.0 }
        }
        for restart in restarts where restart.1 != .max && serverKills.contains(restart.0) {
            report.worstServerRecovery = max(report.worstServerRecovery ?? 0, restart.1 - restart.0)
        }
        /// The restart (its kill) between two moments that a forgetting server excuses, if any.
        /// A hold (or term) journals its start when its body begins, which can be well after
        /// its grant on a loaded machine; but never more than a lease TTL after it (the core
        /// refuses a grant whose lease ran out before it arrived). So an earlier hold that began
        /// before the server answered again, or within a TTL (and the slack) of the kill, may
        /// have been granted before the kill, on the counter the restart reset.
        let grantLag = max(context.lockTTL ?? 0, context.leaderTTL ?? 0) + schedulingSlack
        func forgottenByRestart(_ earlier: UInt64, _ later: UInt64) -> UInt64? {
            guard context.restartForgets else { return nil }
            return restarts.last { $0.0 <= later && earlier < max($0.1, $0.0 &+ grantLag) }?.0
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
            if forgottenByRestart(previous.start, next.start) != nil {
                report.tokenResets += 1
                continue
            }
            report.violations.append(
                "fencing token went backwards: \(next.member) held with \(next.token) after \(previous.member) with \(previous.token)"
            )
        }
        let reads = register.filter { $0.operation == .read }
        for (previous, next) in zip(reads, reads.dropFirst()) where next.token <= previous.token {
            if forgottenByRestart(previous.at, next.at) != nil {
                report.tokenResets += 1
                continue
            }
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
                // After a restart that reset the counter, a member can hold the same token again.
                let own = holds.first { $0.member == record.member && $0.token == record.token && $0.start <= record.at && record.at <= $0.end }
                    ?? holds.first { $0.member == record.member && $0.token == record.token }
                let ownStart = own?.start ?? readAt[record.token] ?? 0
                // The lock was handed on when a later token's hold began: the refused holder must
                // have been paused at some point from then (or from its own start, if earlier:
                // a pause between its acquisition and its body counts) until the refusal.
                let handedOn = holds.lazy.filter { $0.token > record.token }.map(\.start).min() ?? ownStart
                if context.restartForgets, let restart = restarts.last(where: { $0.0 <= ownStart }),
                    record.token < register.lazy.filter({ $0.at < restart.1 }).map(\.bar).max() ?? 0
                {
                    // A token from the counter the restart reset, below the bar of before.
                    report.refusalsAfterReset += 1
                } else if !paused(record.member, from: min(ownStart, handedOn), to: record.at) {
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
                if paused(earlier.member, from: earlier.start, to: earlier.end) {
                    // Fencing at work.
                } else if let restart = forgottenByRestart(earlier.start, hold.start), let ttl = context.lockTTL,
                    earlier.end <= restart + ttl + schedulingSlack
                {
                    report.restartOverlaps += 1
                    report.maxRestartOverlap = max(report.maxRestartOverlap, overlap)
                } else {
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
        checkLeadership(
            journal, kills: kills, paused: paused, forgottenByRestart: forgottenByRestart, leaseTTL: context.leaderTTL,
            into: &report
        )
        checkMembership(journal, kills: kills, serverOut: serverOut, context: context, into: &report)
        if report.holds == 0 && report.acceptedWrites == 0 {
            report.problems.append("no worker ever held the lock")
        }
        if report.unexpectedExits > 0 {
            report.problems.append("\(report.unexpectedExits) worker(s) exited on their own (see their logs)")
        }
        return report
    }

    /// Killed workers leave the members within the membership timeout; the events a stream
    /// delivered add up to the members at the end.
    private static func checkMembership(
        _ journal: [TortureEntry],
        kills: [(member: String, at: UInt64)],
        serverOut: (UInt64, UInt64) -> Bool,
        context: Context,
        into report: inout Report
    ) {
        let bound = context.membershipTTL + schedulingSlack
        for kill in kills {
            for entry in journal {
                switch entry {
                case .gone(let member, let at) where member == kill.member && at >= kill.at:
                    report.membersGone += 1
                    report.worstMemberGone = max(report.worstMemberGone ?? 0, at - kill.at)
                    if at - kill.at > bound, !serverOut(kill.at, at) {
                        report.violations.append(
                            "\(member) was still listed among the members \((at - kill.at) / 1_000_000) ms after it was killed (membership timeout \(context.membershipTTL / 1_000_000) ms)"
                        )
                    }
                case .notGone(let member, let at) where member == kill.member && at >= kill.at:
                    if !serverOut(kill.at, at) {
                        report.violations.append(
                            "\(member) was still listed among the members \((at - kill.at) / 1_000_000) ms after it was killed, when the harness stopped looking (membership timeout \(context.membershipTTL / 1_000_000) ms)"
                        )
                    }
                default: continue
                }
            }
        }
        for case .eventsDiffer(let streamed, let read, _) in journal {
            report.violations.append("an event stream followed from its snapshot saw members [\(streamed)], a read of the group [\(read)]")
        }
    }
}
