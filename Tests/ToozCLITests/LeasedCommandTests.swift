import Foundation
import Testing
import ToozBackends
import ToozTestKit

@testable import ToozCLI

/// What `tooz lock` and `tooz elect` do when the lease goes away under a running command.
@Suite struct LeasedCommandTests {
    @Test func aLostLeaseTerminatesTheCommandAndThrowsLeaseLost() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // The holder notices the break at its next renewal (every third of the lock TTL); the TTL
        // is long enough that a loaded machine cannot delay renewals past it and lose the lease
        // before the break, which would leave nothing to break.
        let url = "memory://leased-\(UInt32.random(in: 0...UInt32.max))?lock_timeout=15"
        let holder = try Coordinator(url: url, member: "holder")
        let breaker = try Coordinator(url: url, member: "breaker")
        let pidFile = scratch.path + "/command.pid"
        let leased = LeasedCommand(
            command: ["sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100"],
            grace: .seconds(5),
            guardExecutable: ToozProcess.executable
        )
        let outcome: Result<Int32, any Error> = try await breaker.withRunning {
            try await holder.withRunning {
                try await withThrowingTaskGroup(of: Result<Int32, any Error>?.self) { tasks in
                    tasks.addTask {
                        do {
                            return .success(
                                try await holder.withLock(named: "guarded") { _ in try await leased.run(environment: [:]) }
                            )
                        } catch {
                            return .failure(error)
                        }
                    }
                    try await eventually("the command to start") { readPID(pidFile) != nil }
                    #expect(try await breaker.lock(named: "guarded").breakLock())
                    return try await tasks.next()!!
                }
            }
        }
        #expect {
            try outcome.get()
        } throws: { error in
            (error as? ToozError)?.code == .leaseLost
        }
        // The command was terminated and reaped: its pid is gone.
        let pid = try #require(readPID(pidFile))
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }
}
