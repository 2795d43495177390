import Logging
import ToozBackends

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The harness of `tooz torture`: spawns the workers, injects the faults on a seeded schedule,
/// stops the workers, runs ``TortureChecker`` and prints the report.
struct TortureRun: Sendable {
    let url: String
    /// What to print instead of the URL (the temporary file:// backend), or `nil`.
    let shownURL: String?
    let directory: String
    let memberSuffix: String
    let processes: Int
    /// How long to inject faults, in nanoseconds.
    let duration: UInt64
    let faults: [TortureCommand.Fault]
    let lock: String
    let seed: UInt64
    let holdMilliseconds: Int
    let replay: String
    let verbose: Bool
    let json: Bool
    let registry: ChildRegistry

    var journalPath: String { directory + "/journal.log" }
    var registerPath: String { directory + "/register.log" }
    var stopPath: String { directory + "/stop" }

    /// The time between two faults is uniform in this range, in nanoseconds.
    static let faultInterval: ClosedRange<UInt64> = 300_000_000...1_500_000_000

    private struct Slot {
        var member: String
        var child: ChildProcess
        /// When a stopped worker gets SIGCONT.
        var stoppedUntil: UInt64?
    }

    func run() async throws -> TortureChecker.Report {
        let probe = try Coordinator(url: url, member: MemberID("torture-probe" + memberSuffix), logger: Logger(label: "tooz.torture"))
        let info = probe.info
        if info.name == "memory" {
            throw CLIFailure(
                .unsupported,
                "the torture test runs worker processes, and memory:// lives inside one process; use file:// (the default) or a server backend"
            )
        }
        if !info.features.contains(.locks) { throw ToozError.notImplemented("locks, which the torture test needs", backend: info.name) }
        let ttl: UInt64? = info.leaseKind == .ttl ? UInt64(probe.configuration.lockTTL.components.seconds) * 1_000_000_000
            + UInt64(probe.configuration.lockTTL.components.attoseconds / 1_000_000_000) : nil
        // Stops reach past the lock TTL now and then, within reason for the run's length.
        let longestStop: UInt64 = ttl.map { min($0 * 3 / 2, max(2_000_000_000, duration / 2)) } ?? min(2_000_000_000, max(duration / 2, 200_000_000))
        let journal = try TortureJournal(path: journalPath)
        let group: String? = info.features.isSuperset(of: [.leaderElection, .membership]) ? lock + "-leaders" : nil
        var random = SeededGenerator(seed: seed)

        let shown = shownURL ?? (try? BackendURL(url).redacted) ?? BackendURL.redact(url)
        let faultNames = faults.isEmpty ? "none" : faults.map(\.rawValue).joined(separator: ",")
        say("tooz torture: \(processes) worker processes on \(shown), lock \"\(lock)\", \(format(ns: duration)), faults \(faultNames), seed \(seed)")
        say("  replay: \(replay)")
        say("  lock TTL: \(ttl.map(format(ns:)) ?? "none (session leases)"); stops last up to \(format(ns: longestStop))")
        say("  leadership: " + (group.map { "the workers campaign for group \"\($0)\" on and off" } ?? "not checked (\(info.name) lacks leader election)"))

        var slots: [Slot] = []
        var spawned = 0
        func spawnNext() throws -> Slot {
            spawned += 1
            let member = "worker-\(spawned)" + memberSuffix
            let child = try spawnWorker(member, group: group)
            journal.record(.spawn(member: member, pid: child.pid, at: Platform.monotonicNanoseconds()))
            return Slot(member: member, child: child)
        }
        for _ in 0..<processes { slots.append(try spawnNext()) }

        let started = Platform.monotonicNanoseconds()
        let end = started + duration
        var nextFault = started + UInt64.random(in: TortureRun.faultInterval, using: &random)
        while Platform.monotonicNanoseconds() < end {
            let now = Platform.monotonicNanoseconds()
            for index in slots.indices {
                if let until = slots[index].stoppedUntil, until <= now {
                    resume(slots[index], journal: journal)
                    slots[index].stoppedUntil = nil
                }
                if let termination = slots[index].child.poll() {
                    journal.record(.exited(member: slots[index].member, status: "\(termination)", at: now))
                    say("  ! \(slots[index].member) \(termination); starting a replacement")
                    slots[index] = try spawnNext()
                }
            }
            if now >= nextFault, !faults.isEmpty {
                nextFault = now + UInt64.random(in: TortureRun.faultInterval, using: &random)
                let kind = faults.randomElement(using: &random)!
                let running = slots.indices.filter { slots[$0].stoppedUntil == nil }
                let index = running.randomElement(using: &random)
                let stopDuration = UInt64.random(in: 100_000_000...longestStop, using: &random)
                switch (kind, index) {
                case (.kill, let index?):
                    let victim = slots[index]
                    journal.record(.kill(member: victim.member, pid: victim.child.pid, at: Platform.monotonicNanoseconds()))
                    await victim.child.kill()
                    slots[index] = try spawnNext()
                    if verbose { say("  kill -9 \(victim.member); \(slots[index].member) replaces it") }
                case (.stop, let index?) where running.count > 1:
                    let victim = slots[index]
                    journal.record(
                        .stop(member: victim.member, pid: victim.child.pid, at: Platform.monotonicNanoseconds(), planned: stopDuration)
                    )
                    victim.child.signal(SIGSTOP)
                    slots[index].stoppedUntil = Platform.monotonicNanoseconds() + stopDuration
                    if verbose { say("  kill -STOP \(victim.member) for \(format(ns: stopDuration))") }
                default:
                    break  // Nobody to hit, or it would stop the last running worker.
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }

        // Wind down: wake the stopped, ask everyone to finish, wait (a dead holder's lease may
        // have to run out first), then kill the stragglers.
        for index in slots.indices where slots[index].stoppedUntil != nil {
            resume(slots[index], journal: journal)
            slots[index].stoppedUntil = nil
        }
        try Platform.writeFile(stopPath, "stop\n")
        let windDownLimit = Platform.monotonicNanoseconds() + (ttl ?? 0) + 15_000_000_000
        for slot in slots {
            while slot.child.isRunning, Platform.monotonicNanoseconds() < windDownLimit {
                try await Task.sleep(for: .milliseconds(10))
            }
            if slot.child.isRunning {
                say("  ! \(slot.member) did not finish in time; killed")
                await slot.child.kill()
            } else if let termination = slot.child.poll(), termination != .exited(0) {
                journal.record(.exited(member: slot.member, status: "\(termination)", at: Platform.monotonicNanoseconds()))
            }
        }
        let seconds = Double(Platform.monotonicNanoseconds() - started) / 1e9

        let entries = TortureEntry.parse(Platform.readFile(journalPath) ?? "")
        let records = RegisterRecord.parse(Platform.readFile(registerPath) ?? "")
        let report = TortureChecker.check(journal: entries, register: records)
        if json {
            Console.out(self.json(report, seconds: seconds, ttl: ttl).text)
        } else {
            printReport(report, seconds: seconds)
        }
        if !report.passed { printLogs(spawned: spawned) }
        return report
    }

    private func resume(_ slot: Slot, journal: TortureJournal) {
        slot.child.signal(SIGCONT)
        journal.record(.cont(member: slot.member, pid: slot.child.pid, at: Platform.monotonicNanoseconds()))
    }

    private func spawnWorker(_ member: String, group: String?) throws -> ChildProcess {
        var arguments = [
            Platform.executablePath(), "torture-worker", "--member", member, "--lock", lock, "--register", registerPath,
            "--journal", journalPath, "--stop-file", stopPath, "--hold-ms", String(holdMilliseconds),
            "--parent", String(Platform.processID),
        ]
        if let group { arguments += ["--group", group] }
        if verbose { arguments.append("--verbose") }
        let log = logPath(member)
        // The URL travels in the environment, where a password does not show in ps(1).
        let child = try ChildProcess.spawn(
            arguments, environment: ["TOOZ_URL": url], stdin: .null, stdout: .file(log), stderr: .file(log)
        )
        registry.add(child)
        return child
    }

    private func logPath(_ member: String) -> String { directory + "/\(member).log" }

    private func say(_ line: String) {
        if json { Console.error(line) } else { Console.out(line) }
    }

    private func printReport(_ report: TortureChecker.Report, seconds: Double) {
        Console.out("  faults: \(report.kills) kill, \(report.stops) stop")
        Console.out(
            "  holds: \(report.holds) journaled (\(report.acceptedHolds) accepted), \(report.acceptedWrites) accepted increments, "
                + "\(report.refusedReads + report.refusedWrites) refused stale operations (\(report.refusedReads) reads, "
                + "\(report.refusedWrites) writes), \(report.lostLeases) leases lost, \(report.workerErrors) worker errors"
        )
        let tokens = report.firstToken.map { "\($0) → \(report.lastToken ?? $0)" } ?? "none"
        Console.out("  register: \(report.finalValue); fencing tokens \(tokens)")
        Console.out("  overlap: max \(format(ns: report.maxOverlap)) between holds (\(report.overlaps) overlaps, each with a paused holder unless listed below)")
        Console.out(
            "  leadership: \(report.terms) terms, \(report.termOverlaps) overlapping the next (max \(format(ns: report.maxTermOverlap)) with a paused leader)"
        )
        if let failover = report.worstFailover {
            Console.out("  failover: worst \(format(ns: failover)) from killing a holder to the next holder's read (\(report.killsOfHolders) kills hit a holder)")
        } else {
            Console.out("  failover: no kill hit a worker between its read and its write")
        }
        for violation in report.violations.prefix(20) { Console.out("  ✗ \(violation)") }
        if report.violations.count > 20 { Console.out("  ✗ … and \(report.violations.count - 20) more") }
        for problem in report.problems { Console.out("  ! \(problem)") }
        if !report.violations.isEmpty {
            Console.out("✗ verdict: \(report.violations.count) violation(s) in \(format(seconds: seconds)) (seed \(seed))")
        } else if !report.problems.isEmpty {
            Console.out("✗ verdict: inconclusive in \(format(seconds: seconds)) (seed \(seed))")
        } else {
            Console.out(
                "✓ verdict: no violation in \(format(seconds: seconds)): \(report.acceptedWrites) increments, none lost or duplicated; tokens strictly increasing; fenced writes never overlapped; \(report.terms) leadership terms, one leader at a time but for paused ones"
            )
        }
    }

    private func json(_ report: TortureChecker.Report, seconds: Double, ttl: UInt64?) -> JSONValue {
        func milliseconds(_ ns: UInt64?) -> JSONValue { ns.map { .double(Double($0) / 1e6) } ?? .null }
        return .object([
            ("verdict", .string(!report.violations.isEmpty ? "violation" : report.problems.isEmpty ? "pass" : "inconclusive")),
            ("seed", .uint(seed)),
            ("processes", .int(Int64(processes))),
            ("seconds", .double(seconds)),
            ("lock_ttl_ms", milliseconds(ttl)),
            ("faults", .object([("kill", .int(Int64(report.kills))), ("stop", .int(Int64(report.stops)))])),
            ("holds", .int(Int64(report.holds))),
            ("accepted_increments", .int(Int64(report.acceptedWrites))),
            ("register_value", .int(Int64(report.finalValue))),
            ("refused_reads", .int(Int64(report.refusedReads))),
            ("refused_writes", .int(Int64(report.refusedWrites))),
            ("leases_lost", .int(Int64(report.lostLeases))),
            ("worker_errors", .int(Int64(report.workerErrors))),
            ("overlaps", .int(Int64(report.overlaps))),
            ("max_overlap_ms", milliseconds(report.maxOverlap)),
            ("leadership_terms", .int(Int64(report.terms))),
            ("leadership_overlaps", .int(Int64(report.termOverlaps))),
            ("max_leadership_overlap_ms", milliseconds(report.maxTermOverlap)),
            ("kills_of_holders", .int(Int64(report.killsOfHolders))),
            ("worst_failover_ms", milliseconds(report.worstFailover)),
            ("violations", .array(report.violations.map { .string($0) })),
            ("problems", .array(report.problems.map { .string($0) })),
            ("replay", .string(replay)),
        ])
    }

    /// The end of every worker's log, to explain a failure.
    private func printLogs(spawned: Int) {
        for index in 1...max(spawned, 1) {
            let member = "worker-\(index)" + memberSuffix
            guard let text = Platform.readFile(logPath(member)) else { continue }
            let lines = text.split(separator: "\n").suffix(3)
            guard !lines.isEmpty else { continue }
            Console.error("--- \(member) (last lines of its log)")
            for line in lines { Console.error("    \(line)") }
        }
    }

    private func format(ns: UInt64) -> String {
        ns >= 1_000_000_000 ? format(seconds: Double(ns) / 1e9) : "\(Int((Double(ns) / 1e6).rounded())) ms"
    }

    private func format(seconds: Double) -> String {
        String(Double(Int((seconds * 10).rounded())) / 10) + " s"
    }
}
