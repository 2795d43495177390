/// What ``eventually(_:within:toleratingErrors:sourceLocation:_:)`` and
/// ``withDeadline(_:within:sourceLocation:_:)`` throw when what they wait for did not happen.
package struct WaitTimedOut: Error, CustomStringConvertible {
    /// What the test waited for.
    package let what: String
    /// How long it waited.
    package let limit: Duration
    /// The last error the condition threw, when errors were tolerated.
    package let lastError: (any Error)?

    package init(what: String, limit: Duration, lastError: (any Error)? = nil) {
        self.what = what
        self.limit = limit
        self.lastError = lastError
    }

    package var description: String {
        let base = "gave up waiting for \(what) after \(limit)"
        guard let lastError else { return base }
        return base + " (last error: \(lastError))"
    }
}
