import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// The guard between `tooz lock`/`tooz elect` and CMD: nothing CMD started outlives tooz, even a
/// tooz killed with SIGKILL, and signals reach CMD's descendants too.
@Suite struct GuardedCommandTests {
    /// A command that starts a background `sleep` (the grandchild) and waits in the foreground.
    private static func command(in scratch: ScratchDirectory) -> [String] {
        let dir = scratch.path
        return ["sh", "-c", "sleep 100 & echo $! > '\(dir)/grandchild.pid'; echo $$ > '\(dir)/sh.pid'; wait"]
    }

    /// The pids of the command's shell and its background `sleep`, once both are written.
    private static func pids(in scratch: ScratchDirectory) async throws -> (shell: Int32, grandchild: Int32) {
        try await eventually("the command to write its pids") {
            readPID(scratch.path + "/sh.pid") != nil && readPID(scratch.path + "/grandchild.pid") != nil
        }
        return (try #require(readPID(scratch.path + "/sh.pid")), try #require(readPID(scratch.path + "/grandchild.pid")))
    }

    @Test(arguments: ["lock", "elect"])
    func killingToozWithSIGKILLKillsTheCommandAndItsDescendants(verb: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let holder = try ToozProcess.start([verb, "--url", scratch.fileURL, "guarded", "--"] + Self.command(in: scratch))
        defer { holder.cleanUp() }
        let (shell, grandchild) = try await Self.pids(in: scratch)
        // Whatever happens below, these must not outlive the test.
        defer {
            Platform.send(SIGKILL, to: shell)
            Platform.send(SIGKILL, to: grandchild)
        }
        #expect(isRunning(shell) && isRunning(grandchild))

        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))

        try await eventually("the command's shell and its background sleep to be gone") {
            !isRunning(shell) && !isRunning(grandchild)
        }
        if verb == "lock" {
            let next = try await ToozProcess.run(["lock", "--url", scratch.fileURL, "--wait", "0", "guarded", "--", "true"])
            #expect(next.status == 0, "stderr: \(next.stderr)")
        }
    }

    @Test func sigtermToToozReachesTheCommandsDescendants() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let holder = try ToozProcess.start(["lock", "--url", scratch.fileURL, "guarded", "--"] + Self.command(in: scratch))
        defer { holder.cleanUp() }
        let (shell, grandchild) = try await Self.pids(in: scratch)
        defer {
            Platform.send(SIGKILL, to: shell)
            Platform.send(SIGKILL, to: grandchild)
        }

        holder.child.signal(SIGTERM)
        // The shell was killed by the SIGTERM passed on, so tooz exits 128+15, as before the guard.
        #expect(try await holder.wait().shellStatus == 128 + SIGTERM)
        #expect(holder.stderr.isEmpty)
        try await eventually("the background sleep to be gone") { !isRunning(shell) && !isRunning(grandchild) }
    }

    @Test func aCommandsLeftoversDoNotOutliveTheLock() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = scratch.path + "/grandchild.pid"
        // The shell exits at once with 3; its background sleep would run on.
        let output = try await ToozProcess.run([
            "lock", "--url", scratch.fileURL, "--grace", "30", "guarded", "--",
            "sh", "-c", "sleep 100 & echo $! > '\(pidFile)'; exit 3",
        ])
        #expect(output.status == 3)
        let grandchild = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: grandchild) }
        try await eventually("the background sleep to be gone") { !isRunning(grandchild) }
    }

    @Test func theGuardDoesNotStartTheCommandWhenItsParentIsNotTooz() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let marker = scratch.path + "/ran"
        let output = try await ToozProcess.run(["__guard", "--parent", "1", "--", "sh", "-c", "echo ran > '\(marker)'"])
        #expect(output.status == ExitStatus.guardOrphaned.rawValue)
        #expect(output.stderrLines.count == 1)
        #expect(!Platform.fileExists(marker))
    }

    @Test func theGuardIsHiddenFromHelp() async throws {
        let output = try await ToozProcess.run(["--help"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("lock"))
        #expect(!output.stdout.contains("__guard"))
    }
}

/// Whether `pid` names a live process: a zombie (ended, not yet reaped) does not count.
func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = Platform.readFile("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: end)...].drop { $0 == " " }.first
    return state != "Z" && state != "X"
}
