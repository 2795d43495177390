import Testing

@testable import Tooz

@Suite struct LeaseStateMachineTests {
    @Test("the safety margin: a fifth of the TTL, at least 1 s (a third of a shorter TTL), at most 2 s")
    func safetyMargins() {
        let configuration = CoordinatorConfiguration()
        #expect(configuration.safetyMargin(for: .seconds(30)) == .seconds(2))
        #expect(configuration.safetyMargin(for: .seconds(7)) == .milliseconds(1400))
        #expect(configuration.safetyMargin(for: .seconds(3)) == .seconds(1))
        #expect(configuration.safetyMargin(for: .milliseconds(1500)) == .milliseconds(500))
    }

    /// TTL 30 s, margin 3 s, refresh every 10 s, acquired with a request sent at t=0.
    private func machine() -> LeaseStateMachine {
        LeaseStateMachine(sentAt: .zero, ttl: .seconds(30), margin: .seconds(3), refreshPeriod: .seconds(10))
    }

    @Test func deadlineIsMeasuredFromTheSendTimeMinusTheMargin() {
        let lease = machine()
        #expect(lease.state == .held)
        #expect(lease.safeDeadline == .seconds(27))
        #expect(lease.nextRefresh == .seconds(10))
    }

    @Test func successfulRefreshMovesTheDeadline() {
        var lease = machine()
        #expect(lease.refreshSucceeded(sentAt: .seconds(10), now: .seconds(11)) == nil)  // still held: no change
        #expect(lease.safeDeadline == .seconds(37))
        #expect(lease.nextRefresh == .seconds(20))
    }

    @Test func failedRefreshIsUncertainThenLostAtTheDeadline() {
        var lease = machine()
        #expect(lease.refreshFailed(now: .seconds(10)) == .uncertain)
        #expect(lease.state.isUsable)
        #expect(lease.nextRefresh < .seconds(20))
        #expect(lease.tick(now: .seconds(26)) == nil)
        #expect(lease.tick(now: .seconds(27)) == .lost(.expired))
        #expect(!lease.state.isUsable)
    }

    @Test func uncertainRecoversWhenARefreshSucceedsInTime() {
        var lease = machine()
        _ = lease.refreshFailed(now: .seconds(10))
        #expect(lease.refreshSucceeded(sentAt: .seconds(13), now: .seconds(14)) == .held)
        #expect(lease.safeDeadline == .seconds(40))
    }

    @Test func aRefreshThatSucceedsAfterTheDeadlineDoesNotResurrect() {
        var lease = machine()
        _ = lease.refreshFailed(now: .seconds(10))
        #expect(lease.refreshSucceeded(sentAt: .seconds(26), now: .seconds(28)) == .lost(.expired))
        #expect(lease.refreshSucceeded(sentAt: .seconds(29), now: .seconds(29)) == nil)
        #expect(lease.state == .lost(.expired))
    }

    @Test func revokedIsLostAtOnce() {
        var lease = machine()
        #expect(lease.revoked() == .lost(.revoked))
        #expect(lease.refreshFailed(now: .seconds(1)) == nil)
        #expect(lease.released() == .released)
    }

    @Test func sessionLeasesNeverExpire() {
        var lease = LeaseStateMachine(sentAt: .zero, ttl: nil, margin: .zero, refreshPeriod: .seconds(10))
        #expect(lease.safeDeadline == nil)
        #expect(lease.tick(now: .seconds(1_000_000)) == nil)
        #expect(lease.refreshFailed(now: .seconds(10)) == .uncertain)
        #expect(lease.tick(now: .seconds(1_000_000)) == nil)
        #expect(lease.shutDown() == .lost(.shutdown))
    }

    @Test func releasedIsFinal() {
        var lease = machine()
        #expect(lease.released() == .released)
        #expect(lease.released() == nil)
        #expect(lease.tick(now: .seconds(100)) == nil)
        #expect(lease.nextWakeUp == nil)
    }
}
