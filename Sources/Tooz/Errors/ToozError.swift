/// The one error type of swift-tooz.
///
/// Every failure that crosses the public API is a `ToozError` with a ``Code`` that callers can
/// switch on, a human-readable message, and the underlying error when there was one. Messages and
/// descriptions never contain credentials: URLs are redacted before they are put into a message.
public struct ToozError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, as a stable, comparable value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case groupNotCreated
            case groupAlreadyExists
            case groupNotEmpty
            case memberAlreadyJoined
            case memberNotJoined
            case lockNotHeld
            case lockAlreadyHeld
            case lockBusy
            case leaseLost
            case timedOut
            case connectionFailed
            case notImplemented
            case notRunning
            case invalidArgument
            case invalidConfiguration
            case serializationFailed
            case backendError
        }

        fileprivate let base: Base

        /// tooz: `GroupNotCreated`.
        public static let groupNotCreated = Code(base: .groupNotCreated)
        /// tooz: `GroupAlreadyExist`.
        public static let groupAlreadyExists = Code(base: .groupAlreadyExists)
        /// tooz: `GroupNotEmpty`.
        public static let groupNotEmpty = Code(base: .groupNotEmpty)
        /// tooz: `MemberAlreadyExist`.
        public static let memberAlreadyJoined = Code(base: .memberAlreadyJoined)
        /// tooz: `MemberNotJoined`.
        public static let memberNotJoined = Code(base: .memberNotJoined)
        /// A release or refresh of a lock or leadership that this member does not hold.
        public static let lockNotHeld = Code(base: .lockNotHeld)
        /// A second acquisition of a lock that the same task tree or lock object already holds.
        /// Locks are not re-entrant; this error replaces the deadlock.
        public static let lockAlreadyHeld = Code(base: .lockAlreadyHeld)
        /// tooz: `LockAcquireFailed`. A lock that stayed busy for the whole wait.
        public static let lockBusy = Code(base: .lockBusy)
        /// A lock or leadership was lost while it was in use (its lease expired or was broken).
        public static let leaseLost = Code(base: .leaseLost)
        /// tooz: `OperationTimedOut`.
        public static let timedOut = Code(base: .timedOut)
        /// tooz: `ToozConnectionError`. The backend could not be reached or the connection broke.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// tooz: `NotImplemented`. The backend lacks the feature; the message names both.
        public static let notImplemented = Code(base: .notImplemented)
        /// An operation was called while ``Coordinator/run()`` was not running.
        public static let notRunning = Code(base: .notRunning)
        /// A bad name, value or argument, refused before any I/O.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A malformed URL, an unknown scheme or option, or a bad option value.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// tooz: `SerializationError`. Capabilities that cannot be encoded or stored bytes
        /// that cannot be decoded.
        public static let serializationFailed = Code(base: .serializationFailed)
        /// The backend answered with an error, or with something we could not understand.
        public static let backendError = Code(base: .backendError)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for humans. Never contains credentials.
    public var message: String
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying {
            return "ToozError.\(code): \(message) (caused by: \(String(describing: underlying)))"
        }
        return "ToozError.\(code): \(message)"
    }

    /// Two errors are equal when their codes and messages are; the underlying error is ignored.
    public static func == (lhs: ToozError, rhs: ToozError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
}

extension ToozError {
    public static func notImplemented(_ feature: String, backend: String) -> ToozError {
        ToozError(.notImplemented, "the \(backend) backend does not implement \(feature)")
    }

    /// Wraps any error as a `ToozError`, keeping `ToozError`s and cancellation as they are.
    package static func wrap(_ error: any Error, _ context: @autoclosure () -> String) -> any Error {
        if error is ToozError || error is CancellationError { return error }
        return ToozError(.backendError, context(), underlying: error)
    }
}
