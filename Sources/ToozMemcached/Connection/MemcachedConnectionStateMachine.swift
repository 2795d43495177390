import NIOCore
import Tooz

/// The request bookkeeping of one memcached connection, free of I/O.
///
/// memcached answers strictly in the order requests were written, and every request gets exactly
/// one reply, so pending requests are a FIFO of slots: each reply completes the oldest. Events
/// (requests to send, a decoded reply, a timer tick, a failure, the channel going away) come in
/// as mutating methods; what to do comes back as an action for ``MemcachedChannelHandler`` to
/// carry out. `Slot` is whatever the caller needs to hand a reply back (a promise in the
/// handler, a number in tests).
///
/// One timer guards the oldest request only: a later request cannot be answered before it, so
/// its deadline is the one that matters. When it passes, the connection is closed, because a
/// late reply would otherwise be taken for the next request's.
package struct MemcachedConnectionStateMachine<Slot> {
    /// A request about to be written.
    package struct Request {
        package var slot: Slot
        /// The command's name, for error messages.
        package var command: String
        /// How long its reply may take.
        package var timeout: Duration

        package init(slot: Slot, command: String, timeout: Duration) {
            self.slot = slot
            self.command = command
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
        /// Complete the slot with this reply; re-arm the timer if a deadline is given.
        case succeed(Slot, MemcachedResponse, rearmTimerAt: NIODeadline?)
        /// The server answered this slot with an error line: fail it alone; the stream is still in step.
        case fail(Failure, rearmTimerAt: NIODeadline?)
        /// Nothing to do (a reply after closing).
        case none
        /// The server answered no request: fail these slots and close the channel.
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
        var timeout: Duration
        var deadline: NIODeadline
    }

    private var state: State = .active
    private var pending = CircularBuffer<Pending>()
    /// Where the timer is armed, if it is.
    private var timerDeadline: NIODeadline?
    /// Why the connection closed, when it was an error: later requests report it.
    private var closeCause: (any Error)?
    private let endpoint: String

    /// - Parameter endpoint: how errors name the server (`host:port`).
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
        guard case .active = self.state else {
            return .fail(self.notSentError(requests.map(\.command)))
        }
        for request in requests {
            self.pending.append(
                Pending(slot: request.slot, command: request.command, timeout: request.timeout, deadline: now + TimeAmount(request.timeout))
            )
        }
        return .write(armTimerAt: self.advanceTimer())
    }

    /// The error for `commands` that cannot be sent because the connection is closed; it
    /// carries the reason the connection closed, when that was an error.
    package func notSentError(_ commands: [String]) -> ToozError {
        ToozError(
            .connectionFailed,
            "the memcached connection to \(self.endpoint) is closed; \(commands.joined(separator: ", ")) not sent",
            underlying: self.closeCause
        )
    }

    // MARK: - Receiving

    /// Handles one decoded reply.
    package mutating func receive(_ response: MemcachedResponse) -> ReceiveAction {
        guard case .active = self.state else { return .none }
        guard let head = self.pending.popFirst() else {
            let violation = ToozError(
                .backendError,
                "memcached at \(self.endpoint) sent a reply to no request; the connection was closed"
            )
            self.closeCause = violation
            return .failAllAndClose(self.failAll { _ in violation })
        }
        let deadline = self.advanceTimer()
        if let message = response.errorMessage {
            // An error line answers exactly one request, so the others stay matched. After a
            // CLIENT_ERROR the server may hang up; the close then fails the rest.
            let error = ToozError(.backendError, "memcached at \(self.endpoint) refused \(head.command): \(message)")
            return .fail(Failure(slot: head.slot, error: error), rearmTimerAt: deadline)
        }
        return .succeed(head.slot, response, rearmTimerAt: deadline)
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
        let endpoint = self.endpoint
        let timedOut = ToozError(
            .timedOut,
            "the memcached command \(head.command) to \(endpoint) timed out: no reply within \(head.timeout); the connection was closed"
        )
        self.closeCause = timedOut
        var isOldest = true
        let failures = self.failAll { pending in
            defer { isOldest = false }
            if isOldest { return timedOut }
            return ToozError(
                .connectionFailed,
                "the memcached connection to \(endpoint) was closed before the reply to \(pending.command) arrived, "
                    + "because \(head.command) timed out (no reply within \(head.timeout))"
            )
        }
        return .failAllAndClose(failures)
    }

    // MARK: - Failures and closing

    /// The decoder rejected the server's bytes: the stream cannot be resynchronised.
    package mutating func decodingFailed(_ error: any Error) -> CloseAction {
        let detail = (error as? MemcachedDecodingError)?.message ?? String(describing: error)
        let endpoint = self.endpoint
        return self.closeAction(cause: error) { pending in
            ToozError(
                .backendError,
                "garbled reply from memcached at \(endpoint): \(detail); \(pending.command) failed and the connection was closed",
                underlying: error
            )
        }
    }

    /// The channel reported an error (I/O, TLS).
    package mutating func errorCaught(_ error: any Error) -> CloseAction {
        let endpoint = self.endpoint
        return self.closeAction(cause: error) { pending in
            ToozError(
                .connectionFailed,
                "the memcached connection to \(endpoint) failed while \(pending.command) waited for its reply",
                underlying: error
            )
        }
    }

    /// The owner closes the connection.
    package mutating func closeRequested() -> CloseAction {
        let endpoint = self.endpoint
        return self.closeAction(cause: nil) { pending in
            ToozError(.connectionFailed, "the memcached connection to \(endpoint) was closed before the reply to \(pending.command) arrived")
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
            let endpoint = self.endpoint
            var failures: [Failure] = []
            failures.reserveCapacity(self.pending.count)
            while let pending = self.pending.popFirst() {
                failures.append(
                    Failure(
                        slot: pending.slot,
                        error: ToozError(
                            .connectionFailed,
                            "the memcached connection to \(endpoint) closed before the reply to \(pending.command) arrived"
                        )
                    )
                )
            }
            return .failAllAndNotifyClosed(failures)
        }
    }

    private mutating func closeAction(cause: (any Error)?, _ error: (Pending) -> ToozError) -> CloseAction {
        guard case .active = self.state else { return .none }
        if let cause { self.closeCause = cause }
        return .failAllAndClose(self.failAll(error))
    }

    /// Moves to `closing` and fails every pending request.
    private mutating func failAll(_ error: (Pending) -> ToozError) -> [Failure] {
        self.state = .closing
        self.timerDeadline = nil
        var failures: [Failure] = []
        failures.reserveCapacity(self.pending.count)
        while let pending = self.pending.popFirst() {
            failures.append(Failure(slot: pending.slot, error: error(pending)))
        }
        return failures
    }
}

extension MemcachedConnectionStateMachine.Request: Sendable where Slot: Sendable {}
