import Foundation
import Testing

@testable import ToozCLI

/// The redis-server scripts/test started, if any.
enum RedisServerURL {
    static let value = ProcessInfo.processInfo.environment["TOOZ_TEST_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = ["true", "1", "yes"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "")
}

/// `tooz` processes on the real redis-server that scripts/test starts (`TOOZ_TEST_REDIS_URL`):
/// a holder killed with SIGKILL keeps the lock until its TTL runs out and no longer, and
/// concurrent processes never lose an update.
@Suite(.enabled(if: RedisServerURL.value != nil || RedisServerURL.isCI, "TOOZ_TEST_REDIS_URL is not set: run scripts/test"))
struct RedisProcessTests {
    private static func requireURL(_ options: String) throws -> String {
        let base = try #require(
            RedisServerURL.value, "CI=true but TOOZ_TEST_REDIS_URL is not set: scripts/test could not start redis-server"
        )
        return base + (base.contains("?") ? "&" : "?") + options
    }

    private static func uniqueName(_ base: String) -> String {
        "cli-redis-\(base)-\(Platform.processID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test func killingAHolderWithSIGKILLFreesTheLockWhenItsTTLRunsOut() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let url = try Self.requireURL("lock_timeout=5")
        let name = Self.uniqueName("kill")
        let pidFile = scratch.path + "/command.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", url, name, "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        let commandPID = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: commandPID) }

        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))
        // Nobody released it: the lease stands until its TTL (5 s) runs out…
        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75, "stderr: \(busy.stderr)")
        // …and then it is free without anyone breaking it.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "30", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 10)
        let (final, fencing) = try await run.run(url: try Self.requireURL("timeout=10"), lockName: Self.uniqueName("counter"), in: scratch)
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 }, "tokens in acquisition order: \(fencing)")
    }
}
