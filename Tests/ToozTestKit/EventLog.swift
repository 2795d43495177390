import Synchronization
import Testing
import Tooz

/// What happened, in order, for assertions about what and in which order: the group events a
/// child task follows (``withEvents(of:in:_:)``), or marks a test leaves from its tasks
/// (`EventLog<String>`).
package final class EventLog<Event: Sendable>: Sendable {
    private struct State {
        var events: [Event] = []
        var failure: (any Error)?
    }
    private let state = Mutex(State())

    package init() {}

    /// Everything appended so far.
    package var events: [Event] { state.withLock { $0.events } }
    /// The error that ended the source of the events, if one did.
    package var failure: (any Error)? { state.withLock { $0.failure } }

    package func append(_ event: Event) { state.withLock { $0.events.append(event) } }

    /// Records that the source of the events ended with `failure`; waits stop at once then.
    package func finish(failing failure: (any Error)?) { state.withLock { $0.failure = failure } }

    /// Waits until the events satisfy `condition`; fails early when their source failed.
    package func waitFor(
        _ what: @autoclosure () -> String,
        within limit: Duration = .testPatience,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: ([Event]) -> Bool
    ) async throws {
        try await eventually(what(), within: limit, sourceLocation: sourceLocation) {
            if let failure { throw failure }
            return condition(events)
        }
    }
}

extension EventLog where Event: Equatable {
    /// Waits until `event` was appended.
    package func waitFor(
        _ event: Event, within limit: Duration = .testPatience, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await waitFor("\(event)", within: limit, sourceLocation: sourceLocation) { $0.contains(event) }
    }
}

extension EventLog where Event == GroupEvent {
    /// The events other than the snapshot that concern `member`.
    package func events(about member: MemberID) -> [GroupEvent] {
        events.filter { event in
            switch event {
            case .joined(let who, _), .left(let who), .capabilitiesChanged(let who, _): who == member
            case .leaderChanged(let who): who == member
            case .snapshot, .membershipChanged: false
            }
        }
    }

    /// The snapshot the stream started with.
    package var snapshot: GroupSnapshot? {
        if case .snapshot(let snapshot) = events.first { return snapshot }
        return nil
    }
}
