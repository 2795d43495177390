import Logging
import ToozBackends

/// The orchestration of `tooz demo`: spawns the workers, drives the three phases from the
/// workers' journal and the backend's own view, and prints the checked result.
struct DemoRun: Sendable {
    let url: String
    let directory: String
    /// Appended to member ids on a backend that may hold state from earlier runs.
    let memberSuffix: String
    let workers: Int
    let increments: Int
    let holdMilliseconds: Int
    let verbose: Bool
    let registry: ChildRegistry

    let group = GroupID("demo-workers")
    let lock = "demo-counter"
    /// The longest any one step may take before the demo gives up on it, in nanoseconds.
    let stepTimeout: UInt64 = 20_000_000_000

    var journalPath: String { directory + "/journal.log" }
    var counterPath: String { directory + "/counter" }
    var goPath: String { directory + "/go" }

    struct Worker: Sendable {
        var member: String
        var child: ChildProcess
    }

    /// A step that did not happen: printed with ✗, then the demo stops.
    struct StepFailed: Error {
        var message: String
    }

    /// Runs the demo; returns whether every check passed.
    func run() async throws -> Bool {
        let started = Platform.monotonicNanoseconds()
        let observer = try Coordinator(url: url, member: MemberID("demo-observer" + memberSuffix), logger: Logger(label: "tooz.demo"))
        try checkBackend(observer.info)
        let shown = (try? BackendURL(url).redacted) ?? BackendURL.redact(url)
        Console.out("tooz demo: \(workers) worker processes on \(shown)")
        do {
            let passed = try await observer.withRunning { try await self.phases(observer) }
            let seconds = Double(Platform.monotonicNanoseconds() - started) / 1e9
            Console.out(passed ? "✓ all checks passed in \(format(seconds: seconds))" : "✗ some checks failed")
            if !passed { printLogs() }
            return passed
        } catch let failure as StepFailed {
            Console.out("  ✗ \(failure.message)")
            printLogs()
            return false
        }
    }

    private func checkBackend(_ info: BackendInfo) throws {
        if info.name == "memory" {
            throw CLIFailure(
                .unsupported,
                "the demo runs worker processes, and memory:// lives inside one process; use file:// (the default) or a server backend"
            )
        }
        for (feature, name) in [
            (BackendFeatures.membership, "group membership"), (.leaderElection, "leader election"), (.locks, "locks"),
        ] where !info.features.contains(feature) {
            throw ToozError.notImplemented(name + ", which the demo needs", backend: info.name)
        }
    }

    private func memberID(_ index: Int) -> String { "worker-\(index)" + memberSuffix }
    private func logPath(_ member: String) -> String { directory + "/\(member).log" }

    // MARK: Phases

    private func phases(_ observer: Coordinator) async throws -> Bool {
        try await observer.createGroupIfNeeded(group)
        var alive: [Worker] = []
        for index in 1...workers { alive.append(try spawnWorker(memberID(index))) }

        // 1. Membership and the first election.
        Console.out("[1/3] the workers join group \"\(group.rawValue)\" and campaign for its leadership")
        let firstTerm = try await waitFor("every worker to join and one to lead", watching: alive) { (entries: [DemoEntry]) -> Term? in
            let joined = Set(entries.compactMap { entry -> String? in
                if case .joined(let member, _, _) = entry { return member }
                return nil
            })
            guard alive.allSatisfy({ joined.contains($0.member) }) else { return nil }
            return DemoRun.firstTerm(in: entries) { _ in true }
        }
        let members = try await observer.membersWithCapabilities(of: group)
        let expected = Set(alive.map(\.member))
        let seen = Set(members.keys.map(\.rawValue))
        mark(seen == expected, "\(seen.count) members: \(seen.sorted().joined(separator: ", "))")
        if let first = members.min(by: { $0.key < $1.key }) {
            Console.out("      \(first.key.rawValue) published \(CapabilitiesJSON.json(first.value).text)")
        }
        try await showLeader(observer, expecting: firstTerm)

        // 2. Failover after a crash of the leader.
        Console.out("[2/3] kill -9 the leader, time the next election")
        guard let leaderIndex = alive.firstIndex(where: { $0.member == firstTerm.member }) else {
            throw StepFailed(message: "the leader \(firstTerm.member) is not one of the workers")
        }
        let leader = alive.remove(at: leaderIndex)
        let killedAt = Platform.monotonicNanoseconds()
        await leader.child.kill()
        mark(true, "killed \(leader.member) (pid \(leader.child.pid)) with SIGKILL")
        // On a TTL backend the dead leader's lease must run out first.
        let ttl = observer.info.leaseKind == .ttl ? observer.configuration.leaderTTL : .zero
        let failoverLimit = stepTimeout + UInt64(ttl.components.seconds) * 1_000_000_000
        let secondTerm = try await waitFor("a new leader after the kill", watching: alive, limit: failoverLimit) { entries in
            DemoRun.firstTerm(in: entries) { $0.member != leader.member && $0.at > killedAt }
        }
        let milliseconds = Double(secondTerm.at - killedAt) / 1e6
        mark(true, "\(secondTerm.member) took over \(format(milliseconds: milliseconds)) after the kill (fencing token \(secondTerm.token))")
        try await showLeader(observer, expecting: secondTerm, quietWhenRight: true)
        let replacement = try spawnWorker(memberID(workers + 1))
        alive.append(replacement)
        _ = try await waitFor("\(replacement.member) to join", watching: alive) { entries in
            entries.contains { if case .joined(replacement.member, _, _) = $0 { true } else { false } } ? true : nil
        }
        mark(true, "\(replacement.member) joined in place of \(leader.member)")

        // 3. The fenced lock.
        Console.out("[3/3] lock \"\(lock)\": \(workers) workers × \(increments) increments (read, sleep \(holdMilliseconds) ms, write)")
        try Platform.writeFile(goPath, "go\n")
        let lockStarted = Platform.monotonicNanoseconds()
        let deadline = lockStarted + stepTimeout + UInt64(workers * increments) * 100_000_000
        for worker in alive {
            while worker.child.isRunning {
                if Platform.monotonicNanoseconds() > deadline {
                    throw StepFailed(message: "the workers did not finish their increments in time")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            if let termination = worker.child.poll(), termination != .exited(0) {
                throw StepFailed(message: "\(worker.member) \(termination)")
            }
        }
        let lockSeconds = Double(Platform.monotonicNanoseconds() - lockStarted) / 1e9
        let entries = DemoEntry.parse(Platform.readFile(journalPath) ?? "")
        let audit = DemoAudit(entries: entries, killed: [leader.member: killedAt])
        let counter = Platform.readFile(counterPath).flatMap { Int($0.filter(\.isNumber)) }
        var passed = true
        for check in audit.lockChecks(counter: counter, workers: workers, increments: increments) {
            mark(check.passed, check.text)
            passed = passed && check.passed
        }
        Console.out("      (\(audit.holds.count) lock holds in \(format(seconds: lockSeconds)))")
        let leadership = audit.leadershipCheck()
        mark(leadership.passed, leadership.text)
        return passed && leadership.passed
    }

    /// Prints the leader the journal names, and checks it against the backend's answer.
    private func showLeader(_ observer: Coordinator, expecting term: Term, quietWhenRight: Bool = false) async throws {
        guard observer.info.features.contains(.leaderQuery) else {
            if !quietWhenRight { mark(true, "leader: \(term.member) (fencing token \(term.token))") }
            return
        }
        let answer = try await observer.leader(of: group)
        if answer?.rawValue == term.member {
            if !quietWhenRight { mark(true, "leader: \(term.member) (fencing token \(term.token))") }
        } else {
            mark(false, "the journal says \(term.member) leads, the backend says \(answer?.rawValue ?? "nobody")")
        }
    }

    struct Term: Sendable {
        var member: String
        var token: UInt64
        var at: UInt64
    }

    static func firstTerm(in entries: [DemoEntry], where accept: (Term) -> Bool) -> Term? {
        for entry in entries {
            if case .leadStart(let member, let token, let at) = entry {
                let term = Term(member: member, token: token, at: at)
                if accept(term) { return term }
            }
        }
        return nil
    }

    // MARK: Helpers

    private func spawnWorker(_ member: String) throws -> Worker {
        var arguments = [
            Platform.executablePath(), "demo-worker", "--member", member, "--group", group.rawValue, "--lock", lock,
            "--counter", counterPath, "--journal", journalPath, "--go", goPath, "--increments", String(increments),
            "--hold-ms", String(holdMilliseconds), "--parent", String(Platform.processID),
        ]
        if verbose { arguments.append("--verbose") }
        let log = logPath(member)
        // The URL travels in the environment, where a password does not show in ps(1).
        let child = try ChildProcess.spawn(
            arguments, environment: ["TOOZ_URL": url], stdin: .null, stdout: .file(log), stderr: .file(log)
        )
        registry.add(child)
        return Worker(member: member, child: child)
    }

    /// Polls the journal until `condition` yields a value; fails when a worker dies or the step
    /// takes longer than `limit` (default ``stepTimeout``, in nanoseconds).
    private func waitFor<T>(
        _ what: String,
        watching workers: [Worker],
        limit: UInt64? = nil,
        _ condition: ([DemoEntry]) -> T?
    ) async throws -> T {
        let deadline = Platform.monotonicNanoseconds() + (limit ?? stepTimeout)
        while true {
            let entries = DemoEntry.parse(Platform.readFile(journalPath) ?? "")
            if let value = condition(entries) { return value }
            for worker in workers {
                if let termination = worker.child.poll() {
                    throw StepFailed(message: "\(worker.member) \(termination) while waiting for \(what)")
                }
            }
            if let failure = entries.first(where: { if case .failed = $0 { true } else { false } }),
                case .failed(let member, let message) = failure
            {
                throw StepFailed(message: "\(member) failed: \(message)")
            }
            if Platform.monotonicNanoseconds() > deadline {
                throw StepFailed(message: "timed out waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private func mark(_ passed: Bool, _ text: String) {
        Console.out("  \(passed ? "✓" : "✗") \(text)")
    }

    /// The end of every worker's log, to explain a failure.
    private func printLogs() {
        for member in (1...workers + 1).map(memberID) {
            guard let text = Platform.readFile(logPath(member)) else { continue }
            let lines = text.split(separator: "\n").suffix(5)
            guard !lines.isEmpty else { continue }
            Console.error("--- \(member) (last lines of its log)")
            for line in lines { Console.error("    \(line)") }
        }
    }

    private func format(seconds: Double) -> String {
        String(Double(Int((seconds * 10).rounded())) / 10) + " s"
    }

    private func format(milliseconds: Double) -> String {
        "\(Int(milliseconds.rounded())) ms"
    }
}
