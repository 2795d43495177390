import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// The host-local backends under real processes: a holder killed with SIGKILL gives its lock
/// back at once, and concurrent `tooz lock` processes never lose an update.
@Suite struct LocalBackendProcessTests {
    /// A unique lock name, since ipc:// locks are shared by the whole host.
    private static func uniqueName(_ base: String) -> String {
        "cli-test-\(base)-\(Platform.processID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    private static func url(_ scheme: String, _ scratch: ScratchDirectory) -> String {
        scheme == "file" ? scratch.fileURL : "ipc://"
    }

    @Test(arguments: ["file", "ipc"])
    func killingAHolderWithSIGKILLFreesTheLockAtOnce(scheme: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let url = Self.url(scheme, scratch)
        let name = Self.uniqueName("kill")
        let pidFile = scratch.path + "/command.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", url, name, "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        // Stop the command whatever happens below (the guard kills it when tooz dies).
        let commandPID = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: commandPID) }

        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75)

        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))

        let free = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(free.status == 0, "stderr: \(free.stderr)")
        try await eventually("the command to be gone with its tooz") { !isRunning(commandPID) }
    }

    @Test(arguments: ["file", "ipc"])
    func concurrentLockedIncrementsNeverLoseAnUpdate(scheme: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 25)
        let (final, fencing) = try await run.run(url: Self.url(scheme, scratch), lockName: Self.uniqueName("counter"), in: scratch)
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 })
    }
}
