import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// `tooz` processes on the real PostgreSQL that scripts/test starts (`TOOZ_TEST_POSTGRES_URL`):
/// a holder killed with SIGKILL frees its lock as soon as the server sees its connection close,
/// long before its lease would end (a lock is a session advisory lock held on the holder's own
/// connection), and takes its command with it; concurrent processes never lose an update, with
/// fencing tokens (one sequence) that grow with every acquisition.
@Suite(.enabled(if: ServerURL.postgres.shouldRun, ServerURL.postgres.skipReason))
struct PostgresProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockAtOnceNotAfterItsLease() async throws {
        try await ServerLockScenarios.aKilledHoldersSessionFreesTheLockAtOnce(on: .postgres)
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        try await ServerLockScenarios.concurrentLockedIncrementsNeverLoseAnUpdate(on: .postgres, options: "timeout=10")
    }
}
