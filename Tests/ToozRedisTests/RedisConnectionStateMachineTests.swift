import NIOCore
import Testing
import Tooz
import ToozRedis

@Suite("RedisConnectionStateMachine")
struct RedisConnectionStateMachineTests {
    typealias Machine = RedisConnectionStateMachine<Int>

    static let endpoint = "127.0.0.1:6379"
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func request(_ slot: Int, _ command: String = "GET", timeout: Duration = .seconds(1)) -> Machine.Request {
        Machine.Request(slot: slot, command: command, timeout: timeout)
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// Sends `slots` as one batch and checks that they are to be written.
    static func send(_ machine: inout Machine, _ slots: [Int], command: String = "GET", now: NIODeadline = start) {
        let action = machine.send(slots.map { request($0, command) }, now: now)
        guard case .write = action else {
            Issue.record("expected .write, got \(action)")
            return
        }
    }

    static func succeeded(_ action: Machine.ReceiveAction) -> (Int, RESPValue)? {
        guard case .succeed(let slot, let value, _) = action else { return nil }
        return (slot, value)
    }

    static func failures(_ action: Machine.CloseAction) -> [Machine.Failure]? {
        guard case .failAllAndClose(let failures) = action else { return nil }
        return failures
    }

    // MARK: - Matching

    @Test func repliesCompleteRequestsInOrder() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2])
        Self.send(&machine, [3])
        #expect(machine.pendingCount == 3)

        for (slot, text) in [(1, "a"), (2, "b"), (3, "c")] {
            let (done, value) = try #require(Self.succeeded(machine.receive(Self.bulk(text))))
            #expect(done == slot)
            #expect(value == Self.bulk(text))
        }
        #expect(machine.pendingCount == 0)
    }

    @Test func manyRequestsInFlightAreMatchedInOrder() throws {
        var machine = Machine(endpoint: Self.endpoint)
        for batch in 0..<100 {
            Self.send(&machine, Array(batch * 10..<batch * 10 + 10), command: "INCR")
        }
        #expect(machine.pendingCount == 1000)
        var completed: [Int] = []
        for reply in 1...1000 {
            let (slot, value) = try #require(Self.succeeded(machine.receive(.integer(Int64(reply)))))
            #expect(value == .integer(Int64(reply)))
            completed.append(slot)
        }
        #expect(completed == Array(0..<1000))
    }

    @Test func errorRepliesAreReturnedAsValues() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2, 3], command: "EVALSHA")
        let simple = RESPValue.simpleError(ByteBuffer(string: "NOSCRIPT No matching script"))
        let bulk = RESPValue.bulkError(ByteBuffer(string: "SYNTAX invalid"))

        let first = try #require(Self.succeeded(machine.receive(simple)))
        #expect(first.0 == 1)
        #expect(first.1 == simple)
        let second = try #require(Self.succeeded(machine.receive(bulk)))
        #expect(second.0 == 2)
        #expect(second.1.errorMessage == "SYNTAX invalid")
        // The connection goes on: the next reply belongs to the next request.
        let third = try #require(Self.succeeded(machine.receive(.simpleString(ByteBuffer(string: "OK")))))
        #expect(third.0 == 3)
        #expect(machine.isActive)
    }

    @Test func aReplyToNoRequestFailsEverythingAndCloses() throws {
        var machine = Machine(endpoint: Self.endpoint)
        let action = machine.receive(.integer(1))
        guard case .failAllAndClose(let failures) = action else {
            Issue.record("expected failAllAndClose, got \(action)")
            return
        }
        #expect(failures.isEmpty)
        #expect(!machine.isActive)
        guard case .fail(let error) = machine.send([Self.request(1)], now: Self.start) else {
            Issue.record("a request after a protocol violation was accepted")
            return
        }
        #expect(error.code == .connectionFailed)
    }

    // MARK: - Pushes and pub/sub

    @Test func resp3PushesAreNeverTakenAsReplies() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [7])

        let message = RESPValue.push([Self.bulk("message"), Self.bulk("news"), Self.bulk("hello")])
        guard case .deliver(let delivered) = machine.receive(message) else {
            Issue.record("a pub/sub message was not delivered")
            return
        }
        #expect(delivered == RedisPubSubMessage(channel: "news", payload: ByteBuffer(string: "hello")))

        let invalidation = RESPValue.push([Self.bulk("invalidate"), .array([Self.bulk("key")])])
        guard case .invalidate(.keys(["key"])) = machine.receive(invalidation) else {
            Issue.record("an invalidation push was not handed over")
            return
        }
        let patternMessage = RESPValue.push([Self.bulk("pmessage"), Self.bulk("n*"), Self.bulk("news"), Self.bulk("x")])
        guard case .none = machine.receive(patternMessage) else {
            Issue.record("a pattern message was not dropped")
            return
        }
        // A stray subscribe confirmation completes nothing either.
        guard case .none = machine.receive(.push([Self.bulk("subscribe"), Self.bulk("x"), .integer(1)])) else {
            Issue.record("a stray confirmation was not dropped")
            return
        }
        #expect(machine.pendingCount == 1)

        let (slot, value) = try #require(Self.succeeded(machine.receive(Self.bulk("reply"))))
        #expect(slot == 7)
        #expect(value == Self.bulk("reply"))
    }

    @Test func resp3SubscriptionWaitsForEveryConfirmation() throws {
        var machine = Machine(endpoint: Self.endpoint)
        let subscribe = Machine.Request(slot: 1, command: "SUBSCRIBE", expectation: .confirmations(.subscribe, count: 2), timeout: .seconds(1))
        guard case .write = machine.send([subscribe, Self.request(2, "PING")], now: Self.start) else {
            Issue.record("subscribe was not written")
            return
        }
        let first = RESPValue.push([Self.bulk("subscribe"), Self.bulk("a"), .integer(1)])
        let second = RESPValue.push([Self.bulk("subscribe"), Self.bulk("b"), .integer(2)])
        guard case .none = machine.receive(first) else {
            Issue.record("the first confirmation completed the subscription")
            return
        }
        let (slot, value) = try #require(Self.succeeded(machine.receive(second)))
        #expect(slot == 1)
        #expect(value == .array([.array([Self.bulk("subscribe"), Self.bulk("a"), .integer(1)]), .array([Self.bulk("subscribe"), Self.bulk("b"), .integer(2)])]))

        // A message between replies goes to the subscriber; the PING still gets its PONG.
        guard case .deliver = machine.receive(.push([Self.bulk("message"), Self.bulk("a"), Self.bulk("m")])) else {
            Issue.record("message not delivered")
            return
        }
        let pong = try #require(Self.succeeded(machine.receive(.simpleString(ByteBuffer(string: "PONG")))))
        #expect(pong.0 == 2)
    }

    @Test func resp2MessagesAreRecognisedOnlyInSubscribeMode() throws {
        var machine = Machine(endpoint: Self.endpoint)
        // Before any subscription, an array that looks like a message is an ordinary reply.
        Self.send(&machine, [1], command: "LRANGE")
        let lookalike = RESPValue.array([Self.bulk("message"), Self.bulk("x"), Self.bulk("y")])
        let reply = try #require(Self.succeeded(machine.receive(lookalike)))
        #expect(reply.0 == 1)
        #expect(reply.1 == lookalike)

        let subscribe = Machine.Request(slot: 2, command: "SUBSCRIBE", expectation: .confirmations(.subscribe, count: 1), timeout: .seconds(1))
        _ = machine.send([subscribe], now: Self.start)
        let confirmation = RESPValue.array([Self.bulk("subscribe"), Self.bulk("news"), .integer(1)])
        let confirmed = try #require(Self.succeeded(machine.receive(confirmation)))
        #expect(confirmed.0 == 2)

        // Now in subscribe mode: messages are delivered, even with a request waiting.
        Self.send(&machine, [3], command: "PING")
        guard case .deliver(let message) = machine.receive(.array([Self.bulk("message"), Self.bulk("news"), Self.bulk("hi")])) else {
            Issue.record("RESP2 message not delivered")
            return
        }
        #expect(message.channel == "news")
        #expect(message.payload == ByteBuffer(string: "hi"))
        let pong = RESPValue.array([Self.bulk("pong"), Self.bulk("")])
        let ping = try #require(Self.succeeded(machine.receive(pong)))
        #expect(ping.0 == 3)
        #expect(ping.1 == pong)

        // Unsubscribing from the last channel leaves subscribe mode.
        let unsubscribe = Machine.Request(slot: 4, command: "UNSUBSCRIBE", expectation: .confirmations(.unsubscribe, count: 1), timeout: .seconds(1))
        _ = machine.send([unsubscribe], now: Self.start)
        let left = try #require(Self.succeeded(machine.receive(.array([Self.bulk("unsubscribe"), Self.bulk("news"), .integer(0)]))))
        #expect(left.0 == 4)
        Self.send(&machine, [5], command: "LRANGE")
        let after = try #require(Self.succeeded(machine.receive(lookalike)))
        #expect(after.0 == 5)
    }

    @Test func anErrorReplyEndsASubscriptionWait() throws {
        var machine = Machine(endpoint: Self.endpoint)
        let subscribe = Machine.Request(slot: 1, command: "SUBSCRIBE", expectation: .confirmations(.subscribe, count: 3), timeout: .seconds(1))
        _ = machine.send([subscribe], now: Self.start)
        let refusal = RESPValue.simpleError(ByteBuffer(string: "NOPERM this user has no permissions to access the 'a' channel"))
        let (slot, value) = try #require(Self.succeeded(machine.receive(refusal)))
        #expect(slot == 1)
        #expect(value == refusal)
        #expect(machine.pendingCount == 0)
    }

    // MARK: - Failures

    @Test func closeFailsEveryRequestInFlight() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2])
        Self.send(&machine, [3], command: "SET")
        let failures = try #require(Self.failures(machine.closeRequested()))
        #expect(failures.map(\.slot) == [1, 2, 3])
        #expect(failures.allSatisfy { $0.error.code == .connectionFailed })
        #expect(failures[2].error.message.contains("SET"))
        #expect(failures[2].error.message.contains(Self.endpoint))
        // Closing twice does nothing more.
        guard case .none = machine.closeRequested() else {
            Issue.record("second close was not a no-op")
            return
        }
        // The channel then goes: nothing left to fail, but the owner is told once.
        guard case .failAllAndNotifyClosed(let rest) = machine.channelInactive() else {
            Issue.record("inactive after close did not notify")
            return
        }
        #expect(rest.isEmpty)
        guard case .none = machine.channelInactive() else {
            Issue.record("second inactive notified again")
            return
        }
    }

    @Test func thePeerClosingFailsEveryRequestInFlight() {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2, 3], command: "INCR")
        guard case .failAllAndNotifyClosed(let failures) = machine.channelInactive() else {
            Issue.record("inactive did not fail the requests")
            return
        }
        #expect(failures.map(\.slot) == [1, 2, 3])
        #expect(failures.allSatisfy { $0.error.code == .connectionFailed && $0.error.message.contains("INCR") })
    }

    @Test func aDecodingErrorFailsEverythingAndCloses() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2])
        let failures = try #require(Self.failures(machine.decodingFailed(RESPDecodingError(.invalidType, "unknown RESP type byte 0x48"))))
        #expect(failures.map(\.slot) == [1, 2])
        #expect(failures.allSatisfy { $0.error.code == .connectionFailed })
        #expect(failures[0].error.message.contains("malformed reply"))
        #expect(failures[0].error.message.contains("0x48"))
        #expect(!machine.isActive)
        // Bytes that were already buffered decode to nothing now.
        guard case .none = machine.receive(.integer(1)) else {
            Issue.record("a value after the decoding error was used")
            return
        }
    }

    @Test func aChannelErrorFailsEverythingAndCloses() throws {
        struct Broken: Error {}
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1])
        let failures = try #require(Self.failures(machine.errorCaught(Broken())))
        #expect(failures.map(\.slot) == [1])
        #expect(failures[0].error.underlying is Broken)
        // A later request learns why the connection is gone (a TLS failure, say).
        guard case .fail(let late) = machine.send([Self.request(2, "HELLO")], now: Self.start) else {
            Issue.record("a request was written after the error")
            return
        }
        #expect(late.code == .connectionFailed)
        #expect(late.message.contains("HELLO not sent"))
        #expect(late.underlying is Broken)
    }

    @Test func requestsAfterCloseFailAtOnce() {
        var machine = Machine(endpoint: Self.endpoint)
        _ = machine.closeRequested()
        guard case .fail(let error) = machine.send([Self.request(1, "PING")], now: Self.start) else {
            Issue.record("a request was written after close")
            return
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("PING"))
        #expect(machine.pendingCount == 0)

        _ = machine.channelInactive()
        guard case .fail = machine.send([Self.request(2)], now: Self.start) else {
            Issue.record("a request was written after the channel went")
            return
        }
    }

    // MARK: - Timeouts

    @Test func theTimerGuardsTheOldestRequestAndRearms() throws {
        var machine = Machine(endpoint: Self.endpoint)
        guard case .write(let armed) = machine.send([Self.request(1)], now: Self.start) else {
            Issue.record("not written")
            return
        }
        #expect(armed == Self.start + .seconds(1))
        // A second request while the timer runs arms nothing new.
        guard case .write(nil) = machine.send([Self.request(2)], now: Self.start + .milliseconds(500)) else {
            Issue.record("a second timer was armed")
            return
        }
        _ = machine.receive(.integer(1))
        // When the timer fires, the oldest request is the second one, not yet due.
        guard case .rearm(let next) = machine.timerFired(now: Self.start + .seconds(1)) else {
            Issue.record("the timer was not re-armed")
            return
        }
        #expect(next == Self.start + .milliseconds(1500))
        _ = machine.receive(.integer(2))
        guard case .none = machine.timerFired(now: next) else {
            Issue.record("a timer with nothing pending did something")
            return
        }
        // With the timer idle, the next request arms it again.
        guard case .write(let again) = machine.send([Self.request(3)], now: Self.start + .seconds(2)) else {
            Issue.record("not written")
            return
        }
        #expect(again == Self.start + .seconds(3))
    }

    @Test func aShorterTimeoutPullsTheTimerForward() throws {
        var machine = Machine(endpoint: Self.endpoint)
        // The handshake's HELLO waits up to 5 s; the timer stays armed for it after its reply.
        guard case .write(let first) = machine.send([Self.request(1, "HELLO", timeout: .seconds(5))], now: Self.start) else {
            Issue.record("not written")
            return
        }
        #expect(first == Self.start + .seconds(5))
        _ = machine.receive(.map([]))
        // A command with a 300 ms timeout must not wait for that 5 s timer.
        guard case .write(let earlier) = machine.send([Self.request(2, "DEBUG", timeout: .milliseconds(300))], now: Self.start + .seconds(1)) else {
            Issue.record("not written")
            return
        }
        #expect(earlier == Self.start + .milliseconds(1300))

        // Behind a long blocking command, a short one becomes the oldest when the long one is
        // answered, and the timer moves to its deadline.
        _ = machine.receive(.simpleString(ByteBuffer(string: "OK")))
        _ = machine.timerFired(now: Self.start + .milliseconds(1300))
        _ = machine.send([Self.request(3, "BLPOP", timeout: .seconds(60))], now: Self.start + .seconds(2))
        _ = machine.send([Self.request(4, "GET", timeout: .seconds(1))], now: Self.start + .seconds(2))
        guard case .succeed(3, _, let moved) = machine.receive(.null) else {
            Issue.record("BLPOP not answered")
            return
        }
        #expect(moved == Self.start + .seconds(3))
    }

    @Test func aTimeoutFailsEverythingAndCloses() throws {
        var machine = Machine(endpoint: Self.endpoint)
        _ = machine.send([Self.request(1, "DEBUG", timeout: .milliseconds(300))], now: Self.start)
        _ = machine.send([Self.request(2, "GET", timeout: .milliseconds(300)), Self.request(3, "SET", timeout: .milliseconds(300))], now: Self.start)
        guard case .failAllAndClose(let failures) = machine.timerFired(now: Self.start + .milliseconds(300)) else {
            Issue.record("the timeout did not fail the requests")
            return
        }
        #expect(failures.map(\.slot) == [1, 2, 3])
        #expect(failures.allSatisfy { $0.error.code == .connectionFailed })
        #expect(failures[0].error.message.contains("DEBUG"))
        #expect(failures[0].error.message.contains("timed out"))
        #expect(failures[0].error.message.contains(Self.endpoint))
        #expect(failures[1].error.message.contains("GET"))
        #expect(failures[1].error.message.contains("because DEBUG timed out"))
        #expect(!machine.isActive)
        guard case .fail = machine.send([Self.request(4)], now: Self.start + .seconds(1)) else {
            Issue.record("a request was accepted after the timeout")
            return
        }
    }
}
