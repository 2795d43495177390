import NIOCore
import Testing
import Tooz
@testable import ToozRedis

/// The pure half of client tracking: reading an `invalidate` push, and which signals a key wakes.
@Suite("Redis invalidations and key routes")
struct RedisKeyRouteTests {
    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    // MARK: - Parsing invalidate pushes

    @Test func anInvalidatePushNamesItsKeysInOrder() {
        let push: [RESPValue] = [Self.bulk("invalidate"), .array([Self.bulk("_tooz_a_lock"), Self.bulk("_tooz_group:g")])]
        #expect(RedisInvalidation(push: push) == .keys(["_tooz_a_lock", "_tooz_group:g"]))
        // The kind is matched without regard to case, and a set of keys reads like an array.
        #expect(RedisInvalidation(push: [Self.bulk("INVALIDATE"), .set([Self.bulk("k")])]) == .keys(["k"]))
    }

    @Test func aNullInPlaceOfTheKeysMeansEveryKey() {
        #expect(RedisInvalidation(push: [Self.bulk("invalidate"), .null]) == .all)
        #expect(RedisInvalidation(push: [Self.bulk("invalidate"), .array(nil)]) == .all)
    }

    @Test func aMalformedInvalidationStillWakesEveryone() {
        #expect(RedisInvalidation(push: [Self.bulk("invalidate")]) == .all)
        #expect(RedisInvalidation(push: [Self.bulk("invalidate"), .integer(3)]) == .all)
        #expect(RedisInvalidation(push: [Self.bulk("invalidate"), .array([.integer(1)])]) == .all)
    }

    @Test func otherPushesAreNotInvalidations() {
        #expect(RedisInvalidation(push: [Self.bulk("message"), Self.bulk("c"), Self.bulk("p")]) == nil)
        #expect(RedisInvalidation(push: []) == nil)
    }

    @Test func aBinaryKeyIsKeptWithItsInvalidBytesReplaced() {
        let key = RESPValue.bulkString(ByteBuffer(bytes: [0x5F, 0xFF, 0x41]))
        #expect(RedisInvalidation(push: [Self.bulk("invalidate"), .array([key])]) == .keys(["_\u{FFFD}A"]))
    }

    @Test func theConnectionStateMachineHandsInvalidationsOverAndKeepsReplyOrder() throws {
        var machine = RedisConnectionStateMachine<Int>(endpoint: "test")
        guard case .write = machine.send([.init(slot: 1, command: "GET", timeout: .seconds(1))], now: .now()) else {
            Issue.record("the request was not written")
            return
        }
        let push = RESPValue.push([Self.bulk("invalidate"), .array([Self.bulk("_tooz_x_lock")])])
        guard case .invalidate(let invalidation) = machine.receive(push) else {
            Issue.record("the invalidation was not handed over")
            return
        }
        #expect(invalidation == .keys(["_tooz_x_lock"]))
        guard case .succeed(let slot, let reply, _) = machine.receive(Self.bulk("v")) else {
            Issue.record("the reply did not complete the request")
            return
        }
        #expect(slot == 1 && reply == Self.bulk("v"))
    }

    // MARK: - Routing keys

    static let route = RedisKeyRoute(keys: RedisKeys(namespace: "_tooz"))

    @Test func theTrackingPrefixCoversEveryKeyOfTheLayout() {
        let keys = RedisKeys(namespace: "_tooz")
        #expect(Self.route.trackingPrefix == "_tooz_")
        let all = [
            keys.groups, keys.group("g"), keys.beat("m"), keys.lock(.lock("l")), keys.lock(.leadership("g")),
            keys.fencing,
        ]
        for key in all { #expect(key.hasPrefix(Self.route.trackingPrefix), "\(key)") }
    }

    @Test func aLockKeyWakesExactlyItsOwnWaiters() {
        #expect(Self.route.targets(of: "_tooz_jobs_lock") == [.lock("_tooz_jobs_lock")])
        #expect(Self.route.targets(of: "_tooz_a b/c_lock") == [.lock("_tooz_a b/c_lock")])
    }

    @Test func aLeaderKeyWakesItsWaitersAndItsGroup() {
        #expect(Self.route.targets(of: "_tooz_leader_of_web_lock") == [.lock("_tooz_leader_of_web_lock"), .group("web")])
        // A group id that itself ends in _lock.
        #expect(
            Self.route.targets(of: "_tooz_leader_of_a_lock_lock") == [.lock("_tooz_leader_of_a_lock_lock"), .group("a_lock")]
        )
        // Too short to hold a group id: only a lock named "leader_of".
        #expect(Self.route.targets(of: "_tooz_leader_of_lock") == [.lock("_tooz_leader_of_lock")])
    }

    @Test func aGroupHashWakesThatGroup() {
        #expect(Self.route.targets(of: "_tooz_group:workers") == [.group("workers")])
        #expect(Self.route.targets(of: "_tooz_group:a:b") == [.group("a:b")])
        #expect(Self.route.targets(of: "_tooz_group:") == [])
    }

    @Test func theGroupsSetAndBeatKeysWakeEveryGroup() {
        #expect(Self.route.targets(of: "_tooz_groups") == [.everyGroup])
        #expect(Self.route.targets(of: "_tooz_beats:member-1") == [.everyGroup])
    }

    @Test func keysThatOnlyChangeWithALockKeyWakeNothing() {
        #expect(Self.route.targets(of: "_tooz_fencing") == [])
    }

    @Test func keysOutsideTheNamespaceWakeNothing() {
        #expect(Self.route.targets(of: "other_jobs_lock") == [])
        #expect(Self.route.targets(of: "_toozgroups") == [])
        let custom = RedisKeyRoute(keys: RedisKeys(namespace: "app"))
        #expect(custom.trackingPrefix == "app_")
        #expect(custom.targets(of: "_tooz_group:g") == [])
        #expect(custom.targets(of: "app_group:g") == [.group("g")])
        #expect(custom.targets(of: "app_leader_of_g_lock") == [.lock("app_leader_of_g_lock"), .group("g")])
    }

    @Test func anAmbiguousKeyTakesEveryRoute() {
        // A lock named "group:x" shares its key with the hash of a group called "x_lock".
        #expect(Self.route.targets(of: "_tooz_group:x_lock") == [.lock("_tooz_group:x_lock"), .group("x_lock")])
        // A lock named "beats:m" looks like member "m_lock"'s beat.
        #expect(Self.route.targets(of: "_tooz_beats:m_lock") == [.lock("_tooz_beats:m_lock"), .everyGroup])
    }

    // MARK: - A lock waiter's nap

    @Test func aWaiterNapsUntilJustPastTheLockKeysExpiry() {
        let nap = { (reply: RESPValue) in RedisNotifications.nap(untilExpiryIn: reply, atMost: .seconds(1)) }
        #expect(nap(.integer(-2)) == nil, "a missing key means: try again now")
        #expect(nap(.integer(250)) == .milliseconds(251))
        #expect(nap(.integer(0)) == .milliseconds(1))
        #expect(nap(.integer(30_000)) == .seconds(1), "never past the poll interval")
        #expect(nap(.integer(-1)) == .seconds(1), "a key without a TTL waits for a push or the poll")
        #expect(nap(.null) == .seconds(1))
    }
}
