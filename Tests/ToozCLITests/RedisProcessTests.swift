import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// `tooz` processes on the real redis-server that scripts/test starts (`TOOZ_TEST_REDIS_URL`):
/// a holder killed with SIGKILL keeps the lock until its TTL runs out and no longer, and
/// concurrent processes never lose an update.
@Suite(.enabled(if: ServerURL.redis.shouldRun, ServerURL.redis.skipReason))
struct RedisProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockWhenItsTTLRunsOut() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // The TTL must outlast starting a second `tooz` on a loaded machine (renewals come every
        // third of it, so at least two thirds are left when the holder dies).
        let url = try ServerURL.redis.require("lock_timeout=60")
        let name = ServerURL.redis.uniqueName("kill")
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
        // Nobody released it: the lease stands until its TTL (20 s) runs out…
        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75, "stderr: \(busy.stderr)")
        // …and then it is free without anyone breaking it.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "120", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 10)
        let (final, fencing) = try await run.run(url: try ServerURL.redis.require("timeout=10"), lockName: ServerURL.redis.uniqueName("counter"), in: scratch)
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 }, "tokens in acquisition order: \(fencing)")
    }
}
