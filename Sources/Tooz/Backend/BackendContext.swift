import Logging

/// What the coordinator hands a backend when it connects: its logger, its clock, and the one
/// way a backend reports what it learns about its connection or session.
///
/// A backend never keeps a loss detector of its own: when its connection closes, its session is
/// suspended or expires, or a session-scoped lock's connection drops, it calls ``report(_:)``
/// and the coordinator changes the state of every lease and membership concerned.
public final class BackendContext: Sendable {
    /// The caller's logger, with the coordinator's metadata (member id, backend).
    public let logger: Logger
    /// The coordinator's clock: deadlines in ``AcquireRequest`` are readings of it.
    public let clock: any ToozClock
    private let sink: @Sendable (BackendSignal) -> Void

    /// - Parameter sink: where signals go; the coordinator's, or a test's.
    public init(logger: Logger, clock: any ToozClock, sink: @escaping @Sendable (BackendSignal) -> Void) {
        self.logger = logger
        self.clock = clock
        self.sink = sink
    }

    /// A context that goes nowhere: for backends used without a coordinator (tools, tests).
    public static func detached(logger: Logger = Logger(label: "tooz", factory: { _ in SwiftLogNoOpLogHandler() })) -> BackendContext {
        BackendContext(logger: logger, clock: .continuous, sink: { _ in })
    }

    /// Tells the coordinator what the backend just learned. Cheap and synchronous: call it from
    /// an event-loop callback.
    public func report(_ signal: BackendSignal) {
        sink(signal)
    }
}

/// What a backend knows about its leases and memberships before the next refresh asks.
public enum BackendSignal: Sendable, Hashable {
    /// The connection closed or the session is suspended: every lease and membership is
    /// `uncertain` until a refresh or heartbeat proves it, and lost at its safe deadline.
    case connectionInterrupted
    /// The connection or session is back: refresh and beat now, so that uncertain leases
    /// become held (or lost) without waiting for their next period.
    case connectionRestored
    /// The session ended on the server (a ZooKeeper session expiry): everything bound to it is
    /// gone. Every lease is lost at once; memberships are lost and re-joined by the coordinator.
    case sessionExpired
    /// One lock is gone (a session-scoped lock whose connection dropped, a PostgreSQL advisory
    /// lock, a MySQL `GET_LOCK`): the lease with this grant's owner token is lost at once.
    case grantLost(ownerToken: String)
}
