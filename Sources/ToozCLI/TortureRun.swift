import Logging
import NIOPosix
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
    /// The command that runs the server, when the harness owns it (server faults need it).
    let serverCommand: String?
    /// Where to copy the history at the end, if anywhere.
    let keepHistory: String?
    let replay: String
    let verbose: Bool
    let json: Bool
    let registry: ChildRegistry

    var journalPath: String { directory + "/journal.log" }
    var registerPath: String { directory + "/register.log" }
    var stopPath: String { directory + "/stop" }
    var contextPath: String { directory + "/context" }

    /// The time between two faults is uniform in this range, in nanoseconds.
    static let faultInterval: ClosedRange<UInt64> = 300_000_000...1_500_000_000

    var serverLogPath: String { directory + "/server.log" }

    private struct Slot {
        var member: String
        var child: ChildProcess
        /// When a stopped worker gets SIGCONT.
        var stoppedUntil: UInt64?
        /// The worker's link to the server, when partitions are among the faults.
        var proxy: TortureProxy?
        /// When a partitioned worker's link heals.
        var partitionedUntil: UInt64?
    }

    func run() async throws -> TortureChecker.Report {
        let server = serverCommand.map { TortureServer(command: $0, logPath: serverLogPath, registry: registry) }
        if let server {
            try server.start()
        }
        let probe = try Coordinator(url: url, member: MemberID("torture-probe" + memberSuffix), logger: Logger(label: "tooz.torture"))
        let info = probe.info
        if info.name == "memory" {
            throw CLIFailure(
                .unsupported,
                "the torture test runs worker processes, and memory:// lives inside one process; use file:// (the default) or a server backend"
            )
        }
        if !info.features.contains(.locks) { throw ToozError.notImplemented("locks, which the torture test needs", backend: info.name) }
        let configuration = probe.configuration
        let ttl: UInt64? = info.leaseKind == .ttl ? nanoseconds(configuration.lockTTL) : nil
        // Stops reach past the lock TTL now and then, within reason for the run's length.
        let longestStop: UInt64 = ttl.map { min($0 * 3 / 2, max(2_000_000_000, duration / 2)) } ?? min(2_000_000_000, max(duration / 2, 200_000_000))
        let journal = try TortureJournal(path: journalPath)
        let group: String? = info.features.isSuperset(of: [.leaderElection, .membership]) ? lock + "-leaders" : nil
        let context = TortureChecker.Context(
            fencing: info.fencing,
            lockTTL: ttl,
            leaderTTL: info.leaseKind == .ttl ? nanoseconds(configuration.leaderTTL) : nil,
            membershipTTL: nanoseconds(configuration.membershipTTL)
        )
        try Platform.writeFile(contextPath, context.line + "\n")
        let partitionTarget = faults.contains(.partition) ? try TortureRun.partitionTarget(url) : nil
        let shown = shownURL ?? (try? BackendURL(url).redacted) ?? BackendURL.redact(url)
        let faultNames = faults.isEmpty ? "none" : faults.map(\.rawValue).joined(separator: ",")
        say("tooz torture: \(processes) worker processes on \(shown), lock \"\(lock)\", \(format(ns: duration)), faults \(faultNames), seed \(seed)")
        say("  replay: \(replay)")
        say("  lock TTL: \(ttl.map(format(ns:)) ?? "none (session leases)"); stops last up to \(format(ns: longestStop))")
        say("  leadership: " + (group.map { "the workers campaign for group \"\($0)\" on and off" } ?? "not checked (\(info.name) lacks leader election)"))
        if let server { say("  server: started by the harness: \(server.command)") }

        let probeState = TortureProbe(
            coordinator: probe,
            group: group.map { GroupID($0) },
            journal: journal,
            giveUp: context.membershipTTL + 2 * TortureChecker.schedulingSlack + 5_000_000_000
        )
        if let server {
            // A server just started takes a moment to listen; the probe's run would fail at once.
            let deadline = Platform.monotonicNanoseconds() + 60_000_000_000
            var lastError: (any Error)?
            while Platform.monotonicNanoseconds() < deadline {
                do {
                    let attempt = try Coordinator(url: url, member: MemberID("torture-probe" + memberSuffix))
                    _ = try await attempt.withRunning { try await attempt.groups() }
                    lastError = nil
                    break
                } catch {
                    lastError = error
                    if server.hasEnded { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            if let lastError {
                for line in server.logTail { Console.error("    server: \(line)") }
                throw CLIFailure(.unavailable, "the server started by --server-command did not answer: \(lastError)")
            }
        }
        let report = try await probe.withRunning {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                defer { tasks.cancelAll() }
                if let group {
                    _ = try await probe.createGroupIfNeeded(GroupID(group))
                }
                tasks.addTask { await probeState.run() }
                tasks.addTask { await probeState.followEvents() }
                let report = try await self.inject(
                    server: server, probe: probeState, journal: journal, group: group, ttl: ttl, longestStop: longestStop,
                    partitionTarget: partitionTarget, context: context
                )
                return report
            }
        }
        // The probe has stopped: ending the server now makes no noise.
        await server?.terminate()
        return report
    }

    /// Spawns the workers, injects the faults, winds down and checks the history.
    private func inject(
        server: TortureServer?,
        probe: TortureProbe,
        journal: TortureJournal,
        group: String?,
        ttl: UInt64?,
        longestStop: UInt64,
        partitionTarget: (host: String, port: Int)?,
        context: TortureChecker.Context
    ) async throws -> TortureChecker.Report {
        var random = SeededGenerator(seed: seed)
        var slots: [Slot] = []
        var spawned = 0
        func spawnNext() async throws -> Slot {
            spawned += 1
            let member = "worker-\(spawned)" + memberSuffix
            var proxy: TortureProxy?
            var workerURL = url
            if let partitionTarget {
                let link = try await TortureProxy.start(
                    forwardingTo: partitionTarget.host, port: partitionTarget.port, on: MultiThreadedEventLoopGroup.singleton
                )
                proxy = link
                workerURL = TortureRun.url(url, throughPort: link.port)
            }
            let child = try spawnWorker(member, group: group, url: workerURL)
            journal.record(.spawn(member: member, pid: child.pid, at: Platform.monotonicNanoseconds()))
            return Slot(member: member, child: child, proxy: proxy)
        }
        func retire(_ slot: Slot) async {
            await slot.proxy?.close()
        }
        for _ in 0..<processes { slots.append(try await spawnNext()) }

        let started = Platform.monotonicNanoseconds()
        let end = started + duration
        var nextFault = started + UInt64.random(in: TortureRun.faultInterval, using: &random)
        var serverStoppedUntil: UInt64?
        // Server faults are spaced: the server must have answered again, and some time passed.
        let serverFaultSpacing = max(3_000_000_000, (ttl ?? 0) * 2)
        var nextServerFault = started + serverFaultSpacing / 2
        while Platform.monotonicNanoseconds() < end {
            let now = Platform.monotonicNanoseconds()
            for index in slots.indices {
                if let until = slots[index].stoppedUntil, until <= now {
                    resume(slots[index], journal: journal)
                    slots[index].stoppedUntil = nil
                }
                if let until = slots[index].partitionedUntil, until <= now {
                    slots[index].proxy?.heal()
                    slots[index].partitionedUntil = nil
                    journal.record(.heal(member: slots[index].member, at: Platform.monotonicNanoseconds()))
                }
                if let termination = slots[index].child.poll() {
                    journal.record(.exited(member: slots[index].member, status: "\(termination)", at: now))
                    say("  ! \(slots[index].member) \(termination); starting a replacement")
                    await retire(slots[index])
                    slots[index] = try await spawnNext()
                }
            }
            if let until = serverStoppedUntil, until <= now, let server {
                server.thaw()
                serverStoppedUntil = nil
                journal.record(.serverCont(at: Platform.monotonicNanoseconds()))
                nextServerFault = Platform.monotonicNanoseconds() + serverFaultSpacing
            }
            // A server that ends by itself (or never comes back from a restart: a port taken,
            // old processes in the way) would leave the workers spinning and prove nothing.
            if let server, server.hasEnded {
                for line in server.logTail { Console.error("    server: \(line)") }
                throw CLIFailure(.unavailable, "the server started by --server-command ended on its own")
            }
            if now >= nextFault, !faults.isEmpty {
                nextFault = now + UInt64.random(in: TortureRun.faultInterval, using: &random)
                let kind = faults.randomElement(using: &random)!
                let running = slots.indices.filter { slots[$0].stoppedUntil == nil }
                let index = running.randomElement(using: &random)
                let faultDuration = UInt64.random(in: 100_000_000...longestStop, using: &random)
                let serverIdle = serverStoppedUntil == nil && probe.serverReady && now >= nextServerFault
                switch (kind, index) {
                case (.kill, let index?):
                    let victim = slots[index]
                    let at = Platform.monotonicNanoseconds()
                    journal.record(.kill(member: victim.member, pid: victim.child.pid, at: at))
                    await victim.child.kill()
                    await retire(victim)
                    probe.killed(victim.member, at: at)
                    slots[index] = try await spawnNext()
                    if verbose { say("  kill -9 \(victim.member); \(slots[index].member) replaces it") }
                case (.stop, let index?) where running.count > 1:
                    let victim = slots[index]
                    journal.record(
                        .stop(member: victim.member, pid: victim.child.pid, at: Platform.monotonicNanoseconds(), planned: faultDuration)
                    )
                    victim.child.signal(SIGSTOP)
                    slots[index].stoppedUntil = Platform.monotonicNanoseconds() + faultDuration
                    if verbose { say("  kill -STOP \(victim.member) for \(format(ns: faultDuration))") }
                case (.partition, let index?) where slots[index].partitionedUntil == nil:
                    let victim = slots[index]
                    journal.record(.partition(member: victim.member, at: Platform.monotonicNanoseconds(), planned: faultDuration))
                    victim.proxy?.partition()
                    slots[index].partitionedUntil = Platform.monotonicNanoseconds() + faultDuration
                    if verbose { say("  partition \(victim.member) from the server for \(format(ns: faultDuration))") }
                case (.serverStop, _) where serverIdle:
                    journal.record(.serverStop(at: Platform.monotonicNanoseconds(), planned: faultDuration))
                    server?.freeze()
                    serverStoppedUntil = Platform.monotonicNanoseconds() + faultDuration
                    if verbose { say("  kill -STOP the server for \(format(ns: faultDuration))") }
                case (.serverRestart, _) where serverIdle:
                    let at = Platform.monotonicNanoseconds()
                    journal.record(.serverKill(at: at))
                    probe.restarted()
                    try await server?.restart()
                    nextServerFault = Platform.monotonicNanoseconds() + serverFaultSpacing
                    if verbose { say("  kill -9 the server and start it again") }
                default:
                    break  // Nobody to hit, it would stop the last running worker, or the server is busy.
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }

        // Wind down: heal, wake the server and the stopped, let the server answer again, ask
        // everyone to finish, wait (a dead holder's lease may have to run out first), then kill
        // the stragglers.
        for index in slots.indices {
            if slots[index].partitionedUntil != nil {
                slots[index].proxy?.heal()
                slots[index].partitionedUntil = nil
                journal.record(.heal(member: slots[index].member, at: Platform.monotonicNanoseconds()))
            }
            if slots[index].stoppedUntil != nil {
                resume(slots[index], journal: journal)
                slots[index].stoppedUntil = nil
            }
        }
        if serverStoppedUntil != nil {
            server?.thaw()
            journal.record(.serverCont(at: Platform.monotonicNanoseconds()))
        }
        let serverAnswered = await probe.waitUntilReady(deadline: Platform.monotonicNanoseconds() + 60_000_000_000)
        try Platform.writeFile(stopPath, "stop\n")
        let windDownLimit = Platform.monotonicNanoseconds() + (ttl ?? 0) + 15_000_000_000
        var stuck = 0
        for slot in slots {
            while slot.child.isRunning, Platform.monotonicNanoseconds() < windDownLimit {
                try await Task.sleep(for: .milliseconds(10))
            }
            if slot.child.isRunning {
                say("  ! \(slot.member) did not finish in time; killed")
                stuck += 1
                await slot.child.kill()
            } else if let termination = slot.child.poll(), termination != .exited(0) {
                journal.record(.exited(member: slot.member, status: "\(termination)", at: Platform.monotonicNanoseconds()))
            }
            await retire(slot)
        }
        // Killed members must be seen gone, and the event stream must catch up with the members.
        let watchLimit = Platform.monotonicNanoseconds() + context.membershipTTL + 2 * TortureChecker.schedulingSlack + 15_000_000_000
        while probe.watching, Platform.monotonicNanoseconds() < watchLimit {
            try await Task.sleep(for: .milliseconds(50))
        }
        let unchecked = probe.stopWatching()
        await probe.compareStreamWithMembers(deadline: Platform.monotonicNanoseconds() + nanoseconds(probeSettleTime))
        let seconds = Double(Platform.monotonicNanoseconds() - started) / 1e9

        let entries = TortureEntry.parse(Platform.readFile(journalPath) ?? "")
        let records = RegisterRecord.parse(Platform.readFile(registerPath) ?? "")
        var report = TortureChecker.check(journal: entries, register: records, context: context)
        report.streamFailures = probe.streamFailures
        report.stuckWorkers = stuck
        if !serverAnswered {
            report.problems.append("the server did not answer within 60 s at the end of the run")
        }
        if unchecked > 0 {
            report.problems.append("the probe could not read the members to see \(unchecked) killed worker(s) leave")
        }
        if json {
            Console.out(self.json(report, seconds: seconds, ttl: ttl).text)
        } else {
            printReport(report, seconds: seconds)
        }
        if !report.passed { printLogs(spawned: spawned) }
        if let keepHistory { copyHistory(to: keepHistory) }
        return report
    }

    /// How long an event stream may take to catch up with the members at the end: a polled
    /// backend's interval twice, and room for a loaded machine.
    private var probeSettleTime: Duration { .seconds(10) }

    private func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
    }

    /// The server behind `url`, for the proxies of `partition`: one host and port, nothing else
    /// naming a server.
    static func partitionTarget(_ url: String) throws -> (host: String, port: Int) {
        let parsed = try BackendURL(url)
        let others = ["endpoints", "host", "port", "sentinel", "unix_socket", "hosts"].filter { parsed.options[$0] != nil }
        guard let host = parsed.host, let port = parsed.port, others.isEmpty, !host.contains(",") else {
            throw CLIFailure(
                .usage,
                "the partition fault puts a proxy between each worker and the server, and needs a URL with one host and an explicit port (scheme://HOST:PORT…)"
                    + (others.isEmpty ? "" : "; this URL also names servers with \(others.joined(separator: ", "))")
            )
        }
        return (host, port)
    }

    /// `url` with its host and port replaced by the loopback proxy's, user, path and options kept.
    static func url(_ url: String, throughPort port: Int) -> String {
        guard let schemeEnd = url.firstRange(of: "://")?.upperBound else { return url }
        let rest = url[schemeEnd...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let userInfo = authority.lastIndex(of: "@").map { authority[...$0] } ?? ""
        return String(url[..<schemeEnd]) + userInfo + "127.0.0.1:\(port)" + rest[authorityEnd...]
    }

    private func resume(_ slot: Slot, journal: TortureJournal) {
        slot.child.signal(SIGCONT)
        journal.record(.cont(member: slot.member, pid: slot.child.pid, at: Platform.monotonicNanoseconds()))
    }

    private func spawnWorker(_ member: String, group: String?, url: String) throws -> ChildProcess {
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
            arguments, environment: ["TOOZ_URL": url], stdin: .null, stdout: .file(log), stderr: .file(log),
            closeOtherDescriptors: true
        )
        registry.add(child)
        return child
    }

    private func logPath(_ member: String) -> String { directory + "/\(member).log" }

    private func say(_ line: String) {
        if json { Console.error(line) } else { Console.out(line) }
    }

    private func printReport(_ report: TortureChecker.Report, seconds: Double) {
        var faultCounts = "\(report.kills) kill, \(report.stops) stop"
        if faults.contains(.partition) { faultCounts += ", \(report.partitions) partition" }
        if serverCommand != nil { faultCounts += ", \(report.serverStops) server-stop, \(report.serverRestarts) server-restart" }
        Console.out("  faults: " + faultCounts)
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
        if let recovery = report.worstServerRecovery {
            Console.out("  server: worst \(format(ns: recovery)) from killing it to its first answer")
        }
        if report.tokenResets + report.refusalsAfterReset + report.restartOverlaps > 0 {
            Console.out(
                "  restarts forgot: \(report.tokenResets) token resets, \(report.refusalsAfterReset) refusals of reset tokens, "
                    + "\(report.restartOverlaps) overlaps across a restart (max \(format(ns: report.maxRestartOverlap)); bound: the lease TTL)"
            )
        }
        if let gone = report.worstMemberGone {
            Console.out("  membership: \(report.membersGone) killed members gone, the last after \(format(ns: gone))")
        }
        if report.stuckWorkers > 0 {
            Console.out("  liveness: \(report.stuckWorkers) worker(s) did not finish within the TTL + 15 s of being asked to (killed)")
        }
        if report.streamFailures > 0 {
            Console.out("  events: the harness's event stream failed \(report.streamFailures) times and was opened again")
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
            (
                "faults",
                .object([
                    ("kill", .int(Int64(report.kills))), ("stop", .int(Int64(report.stops))),
                    ("partition", .int(Int64(report.partitions))), ("server_stop", .int(Int64(report.serverStops))),
                    ("server_restart", .int(Int64(report.serverRestarts))),
                ])
            ),
            ("worst_server_recovery_ms", milliseconds(report.worstServerRecovery)),
            ("token_resets", .int(Int64(report.tokenResets))),
            ("refusals_after_reset", .int(Int64(report.refusalsAfterReset))),
            ("restart_overlaps", .int(Int64(report.restartOverlaps))),
            ("max_restart_overlap_ms", milliseconds(report.maxRestartOverlap)),
            ("members_gone", .int(Int64(report.membersGone))),
            ("worst_member_gone_ms", milliseconds(report.worstMemberGone)),
            ("event_stream_failures", .int(Int64(report.streamFailures))),
            ("stuck_workers", .int(Int64(report.stuckWorkers))),
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

    /// Copies every file of the run directory (journal, register, logs) into `destination`.
    private func copyHistory(to destination: String) {
        do {
            try Platform.copyFiles(from: directory, to: destination)
            say("  history: copied to \(destination)")
        } catch {
            Console.error("tooz torture: could not copy the history to \(destination): \(error)")
        }
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
