import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// The `tooz` process scenarios that every server backend with leases runs the same way: a
/// holder killed with SIGKILL keeps its lock until its lease ends, and no longer; concurrent
/// processes never lose an update and their fencing tokens grow with every acquisition; on
/// PostgreSQL and MySQL a killed holder's lock goes with its session, at once.
enum ServerLockScenarios {
    /// `options` must give the lock a lease long enough to outlast starting a second `tooz` on
    /// a loaded machine (renewals come every third of it, so at least two thirds are left when
    /// the holder dies).
    static func aKilledHolderKeepsTheLockUntilItsLeaseEnds(on server: ServerURL, options: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let url = try server.require(options)
        let name = server.uniqueName("kill")
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
        // Nobody released it: the lock stands until its lease ends…
        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75, "stderr: \(busy.stderr)")
        // …and then it is free without anyone breaking it.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "120", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
    }

    /// On a backend whose lock lives with the holder's session (PostgreSQL, MySQL): a holder
    /// killed with SIGKILL frees its lock as soon as the server sees its connection close, long
    /// before its lease would end, and takes its command with it.
    static func aKilledHoldersSessionFreesTheLockAtOnce(on server: ServerURL) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // A ten-minute lease: a lock that came free only when it ran out would keep the waiter
        // below (60 s) out, so its success shows that the server freed it when the holder died.
        let url = try server.require("lock_timeout=600")
        let name = server.uniqueName("kill")
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
        // connection's session, and its lock with it, and hands it to the waiter.
        let waited = try await ToozProcess.run(["lock", "--url", url, "--wait", "60", name, "--", "true"])
        #expect(waited.status == 0, "stderr: \(waited.stderr)")
        // The orphaned command went with its tooz.
        try await eventually("the command to be gone with its tooz") { !isRunning(commandPID) }
    }

    static func concurrentLockedIncrementsNeverLoseAnUpdate(on server: ServerURL, options: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let run = LockedIncrements(processes: 4, rounds: 10)
        let (final, fencing) = try await run.run(url: try server.require(options), lockName: server.uniqueName("counter"), in: scratch)
        #expect(final == String(run.processes * run.rounds))
        #expect(fencing.count == run.processes * run.rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 }, "tokens in acquisition order: \(fencing)")
    }
}
