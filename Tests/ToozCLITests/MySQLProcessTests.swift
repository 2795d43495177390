import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// `tooz` processes on the real MariaDB that scripts/test starts (`TOOZ_TEST_MYSQL_URL`):
/// a holder killed with SIGKILL frees its lock as soon as the server sees its connection close,
/// long before its lease would end (a lock is a user lock, GET_LOCK, held on the holder's own
/// connection), and takes its command with it; concurrent processes never lose an update, with
/// fencing tokens (one sequence) that grow with every acquisition.
@Suite(.enabled(if: ServerURL.mysql.shouldRun, ServerURL.mysql.skipReason))
struct MySQLProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockAtOnceNotAfterItsLease() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // A ten-minute lease: a lock that came free only when it ran out would keep the waiter
        // below (60 s) out, so its success shows that the server freed it when the holder died.
        let url = try ServerURL.mysql.require("lock_timeout=600")
        let name = ServerURL.mysql.uniqueName("kill")
        let pidFile = scratch.path + "/command.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", url, name, "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        // Stop the command whatever happens below (the guard kills it when tooz dies).
        let commandPID = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: commandPID) }

        // The holder really holds it.
        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75, "stderr: \(busy.stderr)")

        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))
        // Nobody released it and its lease has ten minutes left; the server ends the dead
        // connection's session, and its user lock with it, and hands it to the waiter.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "60", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
        // The orphaned command went with its tooz.
        try await eventually("the command to be gone with its tooz") { !isRunning(commandPID) }
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        try await ServerLockScenarios.concurrentLockedIncrementsNeverLoseAnUpdate(on: .mysql, options: "timeout=10")
    }
}
