import Testing

/// `tooz` processes on the real etcd that scripts/test starts (`TOOZ_TEST_ETCD_URL`): a holder
/// killed with SIGKILL keeps the lock until its session lease expires and no longer (a waiter is
/// then woken by its watch), and concurrent processes never lose an update, with fencing tokens
/// (create revisions) that grow with every acquisition.
@Suite(.enabled(if: ServerURL.etcd.shouldRun, ServerURL.etcd.skipReason))
struct EtcdProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockWhenItsLeaseExpires() async throws {
        try await ServerLockScenarios.aKilledHolderKeepsTheLockUntilItsLeaseEnds(on: .etcd, options: "lock_timeout=60")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        try await ServerLockScenarios.concurrentLockedIncrementsNeverLoseAnUpdate(on: .etcd, options: "timeout=10")
    }
}
