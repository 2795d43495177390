import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// `tooz` processes on the real ZooKeeper that scripts/test starts (`TOOZ_TEST_ZOOKEEPER_URL`):
/// a holder killed with SIGKILL loses its lock when its session expires, and the next waiter
/// gets it; concurrent processes never lose an update.
@Suite(.enabled(if: ServerURL.zooKeeper.shouldRun, ServerURL.zooKeeper.skipReason))
struct ZooKeeperProcessTests {
    @Test func killingAHolderWithSIGKILLHandsTheLockToTheWaiterWhenItsSessionExpires() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // A 4 s session; tooz's `timeout` (also the bound on getting the session) stays generous.
        let url = try ServerURL.zooKeeper.require("timeout=60&membership_timeout=4")
        let name = ServerURL.zooKeeper.uniqueName("kill")
        let pidFile = scratch.path + "/command.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", url, name, "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        let commandPID = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: commandPID) }

        let waiter = try ToozProcess.start(["lock", "--url", url, "--wait", "60", name, "--", "true"])
        defer { waiter.cleanUp() }
        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))
        // The killed holder's ephemeral node goes with its session; the waiter's watch fires.
        #expect(try await waiter.wait() == .exited(0), "stderr: \(waiter.stderr)")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 10)
        let (final, fencing) = try await run.run(
            url: try ServerURL.zooKeeper.require("timeout=60&membership_timeout=10"),
            lockName: ServerURL.zooKeeper.uniqueName("counter"), in: scratch
        )
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 }, "tokens in acquisition order: \(fencing)")
    }
}
