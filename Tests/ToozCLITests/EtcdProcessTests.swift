import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// `tooz` processes on the real etcd that scripts/test starts (`TOOZ_TEST_ETCD_URL`): a holder
/// killed with SIGKILL keeps the lock until its session lease expires and no longer, and
/// concurrent processes never lose
/// an update, with fencing tokens (create revisions) that grow with every acquisition.
@Suite(.enabled(if: ServerURL.etcd.shouldRun, ServerURL.etcd.skipReason))
struct EtcdProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockWhenItsLeaseExpires() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // The lease must outlast starting a second `tooz` on a loaded machine (keepalives come
        // every third of it, so at least two thirds are left when the holder dies).
        let url = try ServerURL.etcd.require("lock_timeout=20")
        let name = ServerURL.etcd.uniqueName("kill")
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
        // Nobody revoked the lease: the lock key stands until the lease expires…
        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75, "stderr: \(busy.stderr)")
        // …and then it is free without anyone breaking it, and the waiter is woken by the watch.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "60", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 10)
        let (final, fencing) = try await run.run(
            url: try ServerURL.etcd.require("timeout=10"), lockName: ServerURL.etcd.uniqueName("counter"), in: scratch
        )
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 }, "tokens in acquisition order: \(fencing)")
    }
}
