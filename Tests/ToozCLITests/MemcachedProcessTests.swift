import Testing

/// `tooz` processes on the real memcached that scripts/test starts (`TOOZ_TEST_MEMCACHED_URL`):
/// a holder killed with SIGKILL keeps the lock until its TTL runs out and no longer, and
/// concurrent processes never lose an update, with fencing tokens that grow with every
/// acquisition.
@Suite(.enabled(if: ServerURL.memcached.shouldRun, ServerURL.memcached.skipReason))
struct MemcachedProcessTests {
    @Test func killingAHolderWithSIGKILLFreesTheLockWhenItsTTLRunsOut() async throws {
        try await ServerLockScenarios.aKilledHolderKeepsTheLockUntilItsLeaseEnds(on: .memcached, options: "lock_timeout=60")
    }

    @Test func concurrentLockedIncrementsNeverLoseAnUpdate() async throws {
        try await ServerLockScenarios.concurrentLockedIncrementsNeverLoseAnUpdate(on: .memcached, options: "timeout=10")
    }
}
