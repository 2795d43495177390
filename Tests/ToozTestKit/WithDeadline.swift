import Testing

/// Runs `body`, failing when it has not finished within `limit`; the body is then cancelled.
///
/// A guard against a call that blocks for ever (a deadlock, an event that never comes), never
/// a measurement: the default limit is generous for a loaded machine.
///
/// - Throws: ``WaitTimedOut`` after recording an issue at `sourceLocation`, or what `body`
///   threw.
@discardableResult
package func withDeadline<Result: Sendable>(
    _ what: String,
    within limit: Duration = .testPatience,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @Sendable @escaping () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            let timedOut = WaitTimedOut(what: what, limit: limit)
            Issue.record("\(timedOut)", sourceLocation: sourceLocation)
            throw timedOut
        }
        return result
    }
}
