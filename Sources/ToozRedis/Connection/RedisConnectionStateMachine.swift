import NIOCore
import Tooz

/// The request bookkeeping of one Redis connection, free of I/O.
///
/// Requests are answered strictly in the order they were written, so pending requests are a
/// FIFO of slots: each reply completes the oldest. Pub/sub messages, client-tracking
/// invalidations and other pushes are told apart from replies and never complete a slot. Events (a request to send, a decoded value, a
/// timer tick, a failure, the channel going away) come in as mutating methods; what to do comes
/// back as an action for ``RedisChannelHandler`` to carry out. `Slot` is whatever the caller
/// needs to hand a reply back (a promise in the handler, a number in tests).
///
/// One timer guards the oldest request only: a later request cannot be answered before it, so
/// its deadline is the one that matters. The timer is re-armed lazily when it fires, which keeps
/// replies free of timer work.
package struct RedisConnectionStateMachine<Slot> {
    /// A request about to be written.
    package struct Request {
        package var slot: Slot
        /// The command's name, for error messages.
        package var command: String
        package var expectation: RedisReplyExpectation
        /// How long its reply may take.
        package var timeout: Duration

        package init(slot: Slot, command: String, expectation: RedisReplyExpectation = .reply, timeout: Duration) {
            self.slot = slot
            self.command = command
            self.expectation = expectation
            self.timeout = timeout
        }
    }

    /// A slot to fail, with the error for it.
    package struct Failure {
        package var slot: Slot
        package var error: ToozError
    }

    package enum SendAction {
        /// Write the requests' bytes and flush; arm the timer at the deadline if there is one.
        case write(armTimerAt: NIODeadline?)
        /// Do not write; fail every request with this error.
        case fail(ToozError)
    }

    package enum ReceiveAction {
        /// Complete the slot with this reply; re-arm the timer earlier if a deadline is given
        /// (the new oldest request has a shorter timeout than the one the timer was set for).
        case succeed(Slot, RESPValue, rearmTimerAt: NIODeadline?)
        /// Hand this message to the subscriber.
        case deliver(RedisPubSubMessage)
        /// Hand this client-tracking invalidation (a RESP3 `invalidate` push) to the owner.
        case invalidate(RedisInvalidation)
        /// Nothing to do (a counted confirmation, a dropped push, a reply after closing).
        case none
        /// The server broke the protocol: fail these slots and close the channel.
        case failAllAndClose([Failure])
    }

    package enum TimerAction {
        case none
        /// Arm the timer again for the new oldest request.
        case rearm(NIODeadline)
        /// The oldest request timed out: fail these slots and close the channel.
        case failAllAndClose([Failure])
    }

    package enum CloseAction {
        case none
        /// Fail these slots and close the channel (cancel the timer).
        case failAllAndClose([Failure])
    }

    package enum InactiveAction {
        /// The channel was already gone.
        case none
        /// Fail these slots, cancel the timer, and tell the owner the connection ended.
        case failAllAndNotifyClosed([Failure])
    }

    private enum State {
        case active
        /// Everything was failed and the channel asked to close; waiting for it to go inactive.
        case closing
        case closed
    }

    private struct Pending {
        var slot: Slot
        var command: String
        var expectation: RedisReplyExpectation
        var timeout: Duration
        var deadline: NIODeadline
        var confirmations: [RESPValue] = []
    }

    private var state: State = .active
    private var pending = CircularBuffer<Pending>()
    /// Where the timer is armed, if it is.
    private var timerDeadline: NIODeadline?
    /// RESP2 only: whether the server put the connection in subscribe mode, in which arrays
    /// shaped `["message", channel, payload]` are messages rather than replies.
    private var resp2Subscribed = false
    /// Why the connection closed, when it was an error: later requests report it.
    private var closeCause: (any Error)?
    private let endpoint: String

    /// - Parameter endpoint: how errors name the server (`host:port` or a socket path).
    package init(endpoint: String) {
        self.endpoint = endpoint
    }

    /// How many requests wait for a reply.
    package var pendingCount: Int { self.pending.count }

    /// Whether requests can still be sent.
    package var isActive: Bool {
        if case .active = self.state { return true }
        return false
    }

    // MARK: - Sending

    /// Queues `requests`, which are about to be written in this order.
    package mutating func send(_ requests: [Request], now: NIODeadline) -> SendAction {
        switch self.state {
        case .active:
            for request in requests {
                self.pending.append(
                    Pending(
                        slot: request.slot,
                        command: request.command,
                        expectation: request.expectation,
                        timeout: request.timeout,
                        deadline: now + TimeAmount(request.timeout)
                    )
                )
            }
            return .write(armTimerAt: self.advanceTimer())
        case .closing, .closed:
            return .fail(self.notSentError(requests.map(\.command)))
        }
    }

    /// The error for `commands` that cannot be sent because the connection is closed; it
    /// carries the reason the connection closed, when that was an error.
    package func notSentError(_ commands: [String]) -> ToozError {
        ToozError(
            .connectionFailed,
            "the Redis connection to \(self.endpoint) is closed; \(commands.joined(separator: ", ")) not sent",
            underlying: self.closeCause
        )
    }

    // MARK: - Receiving

    /// Handles one decoded value from the server.
    package mutating func receive(_ value: RESPValue) -> ReceiveAction {
        guard case .active = self.state else { return .none }

        switch value {
        case .push(let elements):
            // RESP3 pushes are out of band; only pub/sub confirmations complete a request.
            return self.receiveOutOfBand(elements, isRESP2: false) ?? .none
        case .array(.some(let elements)) where self.resp2Subscribed || self.headExpectsConfirmations:
            if let action = self.receiveOutOfBand(elements, isRESP2: true) { return action }
        default:
            break
        }

        guard let head = self.pending.popFirst() else {
            let violation = ToozError(.connectionFailed, "the Redis server at \(self.endpoint) sent a reply to no request; the connection was closed")
            self.closeCause = violation
            return self.failAllAndClose { _ in violation }
        }
        // An error (or anything unexpected) ends a subscription's wait too; the caller judges it.
        return .succeed(head.slot, value, rearmTimerAt: self.advanceTimer())
    }

    private var headExpectsConfirmations: Bool {
        if case .confirmations = self.pending.first?.expectation { return true }
        return false
    }

    /// Handles a pub/sub-shaped value; `nil` means it is an ordinary reply after all
    /// (only possible for RESP2 arrays).
    private mutating func receiveOutOfBand(_ elements: [RESPValue], isRESP2: Bool) -> ReceiveAction? {
        guard let kind = elements.first?.string?.lowercased() else { return isRESP2 ? nil : ReceiveAction.none }
        switch kind {
        case "message" where elements.count == 3:
            guard !isRESP2 || self.resp2Subscribed else { return nil }
            guard let channel = elements[1].string, case .bulkString(.some(let payload)) = elements[2] else {
                return isRESP2 ? nil : ReceiveAction.none
            }
            return .deliver(RedisPubSubMessage(channel: channel, payload: payload))

        case RedisSubscriptionChange.subscribe.rawValue, RedisSubscriptionChange.unsubscribe.rawValue:
            guard elements.count == 3, var head = self.pending.first,
                case .confirmations(let change, let count) = head.expectation, change.rawValue == kind
            else {
                // A confirmation nobody waits for (RESP3) or an array that merely looks like one.
                return isRESP2 ? nil : ReceiveAction.none
            }
            if isRESP2, case .integer(let subscribed) = elements[2] {
                self.resp2Subscribed = subscribed > 0
            }
            head.confirmations.append(.array(elements))
            if head.confirmations.count < count {
                self.pending[self.pending.startIndex] = head
                return ReceiveAction.none
            }
            self.pending.removeFirst()
            return .succeed(head.slot, .array(head.confirmations), rearmTimerAt: self.advanceTimer())

        case "invalidate" where !isRESP2:
            // RESP2 gets invalidations only as pub/sub messages on `__redis__:invalidate`
            // (tracking with REDIRECT), which are not used here.
            return RedisInvalidation(push: elements).map(ReceiveAction.invalidate) ?? ReceiveAction.none

        default:
            // Pattern messages and the like: no request waits for them.
            return isRESP2 ? nil : ReceiveAction.none
        }
    }

    // MARK: - Timer

    /// Arms the timer for the oldest request if it is not armed, or armed later than that
    /// request's deadline (requests may have different timeouts); returns the new deadline.
    private mutating func advanceTimer() -> NIODeadline? {
        guard let head = self.pending.first else { return nil }
        if let armed = self.timerDeadline, armed <= head.deadline { return nil }
        self.timerDeadline = head.deadline
        return head.deadline
    }

    /// The timer armed by an earlier action fired at `now`.
    package mutating func timerFired(now: NIODeadline) -> TimerAction {
        self.timerDeadline = nil
        guard case .active = self.state, let head = self.pending.first else { return .none }
        guard head.deadline <= now else {
            self.timerDeadline = head.deadline
            return .rearm(head.deadline)
        }
        let timedOut = head.command
        let timeout = head.timeout
        let endpoint = self.endpoint
        var isOldest = true
        let action = self.failAllAndClose { pending in
            defer { isOldest = false }
            if isOldest {
                return ToozError(
                    .connectionFailed,
                    "the Redis command \(timedOut) to \(endpoint) timed out: no reply within \(timeout); the connection was closed"
                )
            }
            return ToozError(
                .connectionFailed,
                "the Redis connection to \(endpoint) was closed before the reply to \(pending.command) arrived, "
                    + "because \(timedOut) timed out (no reply within \(timeout))"
            )
        }
        guard case .failAllAndClose(let failures) = action else { return .none }
        self.closeCause = failures.first?.error
        return .failAllAndClose(failures)
    }

    // MARK: - Failures and closing

    /// The decoder rejected the server's bytes: the stream cannot be resynchronised.
    package mutating func decodingFailed(_ error: any Error) -> CloseAction {
        let detail = (error as? RESPDecodingError)?.message ?? String(describing: error)
        let endpoint = self.endpoint
        if self.isActive { self.closeCause = error }
        return self.closeAction { pending in
            ToozError(
                .connectionFailed,
                "the Redis server at \(endpoint) sent a malformed reply (\(detail)) while \(pending.command) waited; the connection was closed",
                underlying: error
            )
        }
    }

    /// The channel reported an error (I/O, TLS).
    package mutating func errorCaught(_ error: any Error) -> CloseAction {
        let endpoint = self.endpoint
        if self.isActive { self.closeCause = error }
        return self.closeAction { pending in
            ToozError(
                .connectionFailed,
                "the Redis connection to \(endpoint) failed while \(pending.command) waited for its reply",
                underlying: error
            )
        }
    }

    /// The owner closes the connection.
    package mutating func closeRequested() -> CloseAction {
        let endpoint = self.endpoint
        return self.closeAction { pending in
            ToozError(.connectionFailed, "the Redis connection to \(endpoint) was closed before the reply to \(pending.command) arrived")
        }
    }

    /// The channel is gone (closed by either side).
    package mutating func channelInactive() -> InactiveAction {
        switch self.state {
        case .closed:
            return .none
        case .active, .closing:
            self.state = .closed
            self.timerDeadline = nil
            var failures: [Failure] = []
            failures.reserveCapacity(self.pending.count)
            while let pending = self.pending.popFirst() {
                failures.append(
                    Failure(
                        slot: pending.slot,
                        error: ToozError(
                            .connectionFailed,
                            "the Redis connection to \(self.endpoint) closed before the reply to \(pending.command) arrived"
                        )
                    )
                )
            }
            return .failAllAndNotifyClosed(failures)
        }
    }

    private mutating func closeAction(_ error: (Pending) -> ToozError) -> CloseAction {
        switch self.failAllAndClose(error) {
        case .failAllAndClose(let failures): .failAllAndClose(failures)
        default: .none
        }
    }

    /// Moves to `closing` and fails every pending request; `.none` once already closing.
    private mutating func failAllAndClose(_ error: (Pending) -> ToozError) -> ReceiveAction {
        guard case .active = self.state else { return .none }
        self.state = .closing
        self.timerDeadline = nil
        var failures: [Failure] = []
        failures.reserveCapacity(self.pending.count)
        while let pending = self.pending.popFirst() {
            failures.append(Failure(slot: pending.slot, error: error(pending)))
        }
        return .failAllAndClose(failures)
    }
}

extension RedisConnectionStateMachine.Request: Sendable where Slot: Sendable {}
