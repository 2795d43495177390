#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ToozBackends

/// The measurements of `tooz bench` (DESIGN.md §7), in one run against one URL: the backend's
/// raw round trip first, then our operations, each compared with it.
struct BenchRun: Sendable {
    let url: String
    let iterations: Int
    let failoverRuns: Int
    /// Whether the measurements run on the backend's task executor (its event loop).
    let onBackendExecutor: Bool
    /// Scratch space for the failover child's ready files.
    let directory: String
    let verbose: Bool
    let registry: ChildRegistry

    private var suffix: String { String(Platform.processID) }
    private var lockName: LockName { LockName("tooz-bench-\(suffix)") }
    private var group: GroupID { GroupID("tooz-bench-\(suffix)") }

    func run() async throws -> BenchReport {
        let a = try Coordinator(url: url, member: MemberID("bench-a-\(suffix)"), logger: Logger(label: "tooz.bench"))
        let b = try Coordinator(url: url, member: MemberID("bench-b-\(suffix)"), logger: Logger(label: "tooz.bench"))
        let info = a.info
        var report = BenchReport(
            url: (try? BackendURL(url).redacted) ?? BackendURL.redact(url),
            backend: info.name,
            fencing: info.fencing.rawValue,
            events: info.eventDelivery == .pushed ? "pushed" : "polled",
            leases: info.leaseKind == .ttl ? "TTL" : "session"
        )
        report.rows = try await a.withRunning {
            try await b.withRunning {
                // As the docs advise a sequential caller: on the backend's event loop, so that
                // no request costs a thread hop.
                try await withTaskExecutorPreference(onBackendExecutor ? a.taskExecutor : nil) {
                    try await self.measureAll(a, b)
                }
            }
        }
        return report
    }

    private func measureAll(_ a: Coordinator, _ b: Coordinator) async throws -> [BenchReport.Row] {
        let info = a.info
        let unsupported = { (feature: String) in "not supported (the \(info.name) backend has no \(feature))" }
        var rows: [BenchReport.Row] = []

        rows.append(try await measure("ping", "raw round trip (backend ping)", iterations) {
            try await a.backend.ping()
        })

        if info.features.contains(.locks) {
            let lock = try a.lock(named: lockName)
            rows.append(try await measure("lock", "lock acquire + release", iterations) {
                try await lock.acquire()
                try await lock.release()
            })
            rows.append(try await handOff(a, b))
        } else {
            rows.append(skipped("lock", "lock acquire + release", unsupported("locks")))
            rows.append(skipped("handoff", "lock hand-off, contended", unsupported("locks")))
        }

        if info.features.contains(.membership) && info.features.contains(.groups) {
            rows.append(contentsOf: try await membership(a))
        } else {
            for (key, title) in [("join", "group join"), ("members", "group members"), ("leave", "group leave")] {
                rows.append(skipped(key, title, unsupported("group membership")))
            }
        }

        let failoverTitle = "leader failover after kill -9"
        if !info.features.contains(.leaderElection) {
            rows.append(skipped("failover", failoverTitle, unsupported("leader election")))
        } else if info.name == "memory" {
            rows.append(skipped("failover", failoverTitle, "not supported (memory:// is not shared with another process)"))
        } else if failoverRuns == 0 {
            rows.append(skipped("failover", failoverTitle, "not measured (--failovers 0)"))
        } else {
            rows.append(try await failover(a, title: failoverTitle))
        }
        return rows
    }

    // MARK: Measurements

    private func measure(
        _ key: String,
        _ title: String,
        _ count: Int,
        _ operation: () async throws -> Void
    ) async throws -> BenchReport.Row {
        progress(title, count)
        for _ in 0..<min(10, max(1, count / 10)) { try await operation() }
        var samples: [Int64] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await operation()
            samples.append(nanoseconds(ContinuousClock.now - start))
        }
        return BenchReport.Row(key: key, title: title, samples: samples)
    }

    /// A holds the lock, B waits for it, A releases: the time from A's release call until B holds it.
    private func handOff(_ a: Coordinator, _ b: Coordinator) async throws -> BenchReport.Row {
        let title = "lock hand-off, contended"
        let count = max(1, min(iterations, 50))
        progress(title, count)
        let lockA = try a.lock(named: lockName)
        let lockB = try b.lock(named: lockName)
        var samples: [Int64] = []
        for _ in 0..<count {
            try await lockA.acquire()
            let elapsed = try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { tasks in
                tasks.addTask {
                    try await lockB.acquire()
                    return ContinuousClock.now
                }
                // Give B time to try once and start waiting.
                try await Task.sleep(for: .milliseconds(20))
                let released = ContinuousClock.now
                try await lockA.release()
                let acquired = try await tasks.next()!
                return acquired - released
            }
            try await lockB.release()
            samples.append(nanoseconds(elapsed))
        }
        return BenchReport.Row(key: "handoff", title: title, samples: samples)
    }

    private func membership(_ a: Coordinator) async throws -> [BenchReport.Row] {
        let count = max(1, min(iterations, 100))
        progress("group join / members / leave", count)
        try await a.createGroupIfNeeded(group)
        var join: [Int64] = []
        var members: [Int64] = []
        var leave: [Int64] = []
        for index in -2..<count {
            let start = ContinuousClock.now
            try await a.join(group)
            let joined = ContinuousClock.now
            _ = try await a.members(of: group)
            let listed = ContinuousClock.now
            try await a.leave(group)
            let left = ContinuousClock.now
            guard index >= 0 else { continue }  // warm-up
            join.append(nanoseconds(joined - start))
            members.append(nanoseconds(listed - joined))
            leave.append(nanoseconds(left - listed))
        }
        try? await a.deleteGroup(group)
        return [
            BenchReport.Row(key: "join", title: "group join", samples: join),
            BenchReport.Row(key: "members", title: "group members", samples: members),
            BenchReport.Row(key: "leave", title: "group leave", samples: leave),
        ]
    }

    /// A child process of ours leads; it is killed with SIGKILL while we campaign: the time from
    /// the kill until we lead.
    private func failover(_ a: Coordinator, title: String) async throws -> BenchReport.Row {
        let count = failoverRuns
        progress(title, count)
        var samples: [Int64] = []
        for run in 0..<count {
            let ready = directory + "/leader-\(run).ready"
            let log = directory + "/leader-\(run).log"
            var arguments = [
                Platform.executablePath(), "bench-leader", "--member", "bench-leader-\(suffix)-\(run)",
                "--group", group.rawValue, "--ready", ready, "--parent", String(Platform.processID),
            ]
            if verbose { arguments.append("--verbose") }
            let child = try ChildProcess.spawn(
                arguments, environment: ["TOOZ_URL": url], stdin: .null, stdout: .file(log), stderr: .file(log)
            )
            registry.add(child)
            let readyBy = ContinuousClock.now + .seconds(30)
            while !Platform.fileExists(ready) {
                if let termination = child.poll() {
                    let tail = Platform.readFile(log)?.split(separator: "\n").last.map(String.init) ?? ""
                    throw CLIFailure(.software, "the failover leader process \(termination): \(tail)")
                }
                if ContinuousClock.now > readyBy {
                    await child.kill()
                    throw CLIFailure(.software, "the failover leader process did not become leader within 30 s")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            let elapsed = try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { tasks in
                tasks.addTask {
                    try await a.campaign(for: self.group)
                    return ContinuousClock.now
                }
                try await Task.sleep(for: .milliseconds(50))
                let killed = ContinuousClock.now
                child.signal(SIGKILL)
                let elected = try await tasks.next()!
                return elected - killed
            }
            await child.kill()
            try await a.standDown(from: group)
            samples.append(nanoseconds(elapsed))
        }
        return BenchReport.Row(key: "failover", title: title, samples: samples)
    }

    // MARK: Helpers

    private func skipped(_ key: String, _ title: String, _ reason: String) -> BenchReport.Row {
        BenchReport.Row(key: key, title: title, samples: [], skipped: reason)
    }

    private func progress(_ title: String, _ count: Int) {
        Console.error("tooz bench: \(title) × \(count)…")
    }

    private func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
