import NIOCore
import Testing
import Tooz
import ToozMemcached

@Suite("MemcachedConnectionStateMachine")
struct MemcachedConnectionStateMachineTests {
    typealias Machine = MemcachedConnectionStateMachine<Int>

    static let endpoint = "127.0.0.1:11211"
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func request(_ slot: Int, _ command: String = "mg", timeout: Duration = .seconds(1)) -> Machine.Request {
        Machine.Request(slot: slot, command: command, timeout: timeout)
    }

    /// Sends `slots` as one batch and returns where the timer is to be armed.
    @discardableResult
    static func send(_ machine: inout Machine, _ slots: [Int], command: String = "mg", timeout: Duration = .seconds(1), now: NIODeadline = start)
        -> NIODeadline?
    {
        let action = machine.send(slots.map { request($0, command, timeout: timeout) }, now: now)
        guard case .write(let deadline) = action else {
            Issue.record("expected .write, got \(action)")
            return nil
        }
        return deadline
    }

    static func succeeded(_ action: Machine.ReceiveAction) -> (Int, MemcachedResponse)? {
        guard case .succeed(let slot, let response, _) = action else { return nil }
        return (slot, response)
    }

    static func failures(_ action: Machine.CloseAction) -> [Machine.Failure]? {
        guard case .failAllAndClose(let failures) = action else { return nil }
        return failures
    }

    static func value(_ text: String) -> MemcachedResponse { MemcachedResponse(.value, value: Array(text.utf8)) }

    @Test func repliesCompleteRequestsInOrder() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2])
        Self.send(&machine, [3])
        #expect(machine.pendingCount == 3)
        for (slot, text) in [(1, "a"), (2, "b"), (3, "c")] {
            let (done, response) = try #require(Self.succeeded(machine.receive(Self.value(text))))
            #expect(done == slot)
            #expect(response == Self.value(text))
        }
        #expect(machine.pendingCount == 0)
    }

    @Test func aThousandRequestsInFlightAreMatchedInOrder() throws {
        var machine = Machine(endpoint: Self.endpoint)
        for batch in 0..<100 { Self.send(&machine, Array(batch * 10..<batch * 10 + 10)) }
        var completed: [Int] = []
        for index in 0..<1000 {
            let (slot, _) = try #require(Self.succeeded(machine.receive(MemcachedResponse(.stored, cas: UInt64(index)))))
            completed.append(slot)
        }
        #expect(completed == Array(0..<1000))
    }

    @Test func anErrorLineFailsOneRequestOnly() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2, 3], command: "ms")
        #expect(Self.succeeded(machine.receive(MemcachedResponse(.stored)))?.0 == 1)
        guard case .fail(let failure, _) = machine.receive(MemcachedResponse(.serverError("object too large for cache"))) else {
            Issue.record("expected .fail")
            return
        }
        #expect(failure.slot == 2)
        #expect(failure.error.code == .backendError)
        #expect(failure.error.message.contains("object too large for cache"))
        #expect(failure.error.message.contains("ms"))
        #expect(failure.error.message.contains(Self.endpoint))
        #expect(machine.isActive)
        #expect(Self.succeeded(machine.receive(MemcachedResponse(.notStored)))?.0 == 3)

        Self.send(&machine, [4, 5])
        guard case .fail(let client, _) = machine.receive(MemcachedResponse(.clientError("bad data chunk"))) else {
            Issue.record("expected .fail")
            return
        }
        #expect(client.slot == 4)
        #expect(client.error.message.contains("CLIENT_ERROR bad data chunk"))
        guard case .fail(let unknown, _) = machine.receive(MemcachedResponse(.error)) else {
            Issue.record("expected .fail")
            return
        }
        #expect(unknown.slot == 5)
        #expect(unknown.error.code == .backendError)
    }

    @Test func closingWithRequestsPendingFailsThemAll() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2, 3])
        _ = machine.receive(MemcachedResponse(.stored))
        guard case .failAllAndNotifyClosed(let failures) = machine.channelInactive() else {
            Issue.record("expected failAllAndNotifyClosed")
            return
        }
        #expect(failures.map(\.slot) == [2, 3])
        #expect(failures.allSatisfy { $0.error.code == .connectionFailed && $0.error.message.contains(Self.endpoint) })
        guard case .none = machine.channelInactive() else {
            Issue.record("a second inactive must do nothing")
            return
        }
        guard case .fail(let error) = machine.send([Self.request(9, "md")], now: Self.start) else {
            Issue.record("a closed machine must refuse requests")
            return
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("md not sent"))
    }

    @Test func closeRequestedFailsPendingThenInactiveNotifiesOnce() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2])
        let failures = try #require(Self.failures(machine.closeRequested()))
        #expect(failures.map(\.slot) == [1, 2])
        #expect(!machine.isActive)
        // A reply that was already on its way is dropped.
        guard case .none = machine.receive(MemcachedResponse(.stored)) else {
            Issue.record("a reply after closing must be dropped")
            return
        }
        guard case .failAllAndNotifyClosed(let rest) = machine.channelInactive() else {
            Issue.record("expected failAllAndNotifyClosed")
            return
        }
        #expect(rest.isEmpty)
    }

    @Test func garbageFailsEveryPendingRequestWithABackendError() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1, 2, 3])
        let failures = try #require(Self.failures(machine.decodingFailed(MemcachedDecodingError(.invalidStatus, "reply line starts with \"HTTP/1.1\""))))
        #expect(failures.map(\.slot) == [1, 2, 3])
        #expect(failures.allSatisfy { $0.error.code == .backendError })
        #expect(failures[0].error.message.hasPrefix("garbled reply from memcached at \(Self.endpoint): reply line starts with"))
        guard case .none = machine.errorCaught(MemcachedDecodingError(.tooLarge, "again")) else {
            Issue.record("a second failure must do nothing")
            return
        }
        guard case .fail(let error) = machine.send([Self.request(4)], now: Self.start) else {
            Issue.record("expected .fail")
            return
        }
        #expect(error.underlying is MemcachedDecodingError)
    }

    @Test func aReplyToNoRequestClosesTheConnection() throws {
        var machine = Machine(endpoint: Self.endpoint)
        guard case .failAllAndClose(let failures) = machine.receive(MemcachedResponse(.stored)) else {
            Issue.record("expected failAllAndClose")
            return
        }
        #expect(failures.isEmpty)
        #expect(!machine.isActive)
    }

    @Test func theOldestRequestTimesOutAndTheRestFailWithIt() throws {
        var machine = Machine(endpoint: Self.endpoint)
        #expect(Self.send(&machine, [1], command: "mg", timeout: .seconds(2)) == Self.start + .seconds(2))
        // A later request's deadline does not move the timer: it cannot be answered first.
        #expect(Self.send(&machine, [2], command: "ms", now: Self.start + .milliseconds(500)) == nil)

        guard case .rearm(let deadline) = machine.timerFired(now: Self.start + .seconds(1)) else {
            Issue.record("an early tick must re-arm")
            return
        }
        #expect(deadline == Self.start + .seconds(2))
        guard case .failAllAndClose(let failures) = machine.timerFired(now: Self.start + .seconds(2)) else {
            Issue.record("expected failAllAndClose")
            return
        }
        #expect(failures.map(\.slot) == [1, 2])
        #expect(failures[0].error.code == .timedOut)
        #expect(failures[0].error.message.contains("mg"))
        #expect(failures[0].error.message.contains("timed out"))
        #expect(failures[1].error.code == .connectionFailed)
        #expect(failures[1].error.message.contains("ms"))
    }

    @Test func aReplyMovesTheTimerToTheNextRequest() throws {
        var machine = Machine(endpoint: Self.endpoint)
        Self.send(&machine, [1], timeout: .seconds(5))
        Self.send(&machine, [2], timeout: .seconds(1))
        guard case .succeed(1, _, let rearm) = machine.receive(MemcachedResponse(.stored)) else {
            Issue.record("expected .succeed")
            return
        }
        #expect(rearm == Self.start + .seconds(1))
        guard case .failAllAndClose(let failures) = machine.timerFired(now: Self.start + .seconds(1)) else {
            Issue.record("the second request's shorter timeout must fire")
            return
        }
        #expect(failures.map(\.slot) == [2])
        #expect(failures[0].error.code == .timedOut)
    }
}
