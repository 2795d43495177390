import Testing

/// Polls `condition` until it holds.
///
/// A bound against hangs, never a timing assertion: the limit is generous so that a loaded
/// machine does not fail the test, and polling starts at a millisecond (for tests that only wait
/// for tasks to get scheduled) and backs off to 50 ms (for tests that ask a server).
///
/// - Parameters:
///   - what: what the test waits for, for the failure message; read only when it times out,
///     so it may describe the state at that moment.
///   - limit: how long to wait.
///   - toleratingErrors: when `true`, an error thrown by `condition` counts as "not yet" (a
///     server that is restarting, a session that moves), and the last one is reported on
///     timeout. When `false`, the first error ends the wait and is rethrown.
///   - condition: checked until it returns `true`.
/// - Throws: ``WaitTimedOut`` after recording an issue at `sourceLocation`, or the error
///   `condition` threw.
package func eventually(
    _ what: @autoclosure () -> String = "the condition",
    within limit: Duration = .testPatience,
    toleratingErrors: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    var pause = Duration.milliseconds(1)
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch where toleratingErrors && !(error is CancellationError) {
            lastError = error
        }
        if clock.now >= deadline {
            let timedOut = WaitTimedOut(what: what(), limit: limit, lastError: lastError)
            Issue.record("\(timedOut)", sourceLocation: sourceLocation)
            throw timedOut
        }
        try await Task.sleep(for: pause)
        pause = min(pause * 2, .milliseconds(50))
    }
}
