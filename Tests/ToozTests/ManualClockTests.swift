import Testing
import ToozTestKit

@testable import Tooz

/// ``ManualClock``'s sleeps: the deadlines the coordinator's loops sleep until.
@Suite struct ManualClockTests {
    @Test func aSleepUntilAnInstantWakesWhenTheClockReachesIt() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: .seconds(5)) }
        try await eventually { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(4))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        #expect(clock.sleeperCount == 0)
        try await sleeper.value
    }

    /// The renewal loop's race: a wake-up computed from a reading taken before the clock moved
    /// is still due at that instant. A sleep for the difference would end a second later, and on
    /// a clock that never moves again, never.
    @Test func aWakeUpComputedBeforeAnAdvanceIsNotPushedLater() async throws {
        let clock = ManualClock()
        let wakeUp = clock.now() + .seconds(1)
        clock.advance(by: .seconds(1))
        try await clock.sleep(until: wakeUp)
        #expect(clock.sleeperCount == 0)
        let broadcast = ChangeBroadcast()
        #expect(try await broadcast.wait(since: broadcast.generation, until: wakeUp, clock: clock) == false)
    }

    @Test func aCancelledSleepEndsWithCancellationError() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: .seconds(5)) }
        try await eventually { clock.sleeperCount == 1 }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }
}
