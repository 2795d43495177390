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
        try await ServerLockScenarios.aKilledHoldersSessionFreesTheLockAtOnce(on: .mysql)
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        try await ServerLockScenarios.concurrentLockedIncrementsNeverLoseAnUpdate(on: .mysql, options: "timeout=10")
    }
}
