import Synchronization

/// What a ``ZooKeeperClient`` can tell without a hop to its event loop: the session state and
/// the server of the current connection, mirrored by the driver whenever they change.
final class ZooKeeperClientStatus: Sendable {
    struct Snapshot: Sendable {
        var state: ZooKeeperSessionState = .connecting
        var server: ZooKeeperURL.Server?
    }

    private let snapshot = Mutex(Snapshot())

    init() {}

    var state: ZooKeeperSessionState { self.snapshot.withLock { $0.state } }
    var server: ZooKeeperURL.Server? { self.snapshot.withLock { $0.server } }

    func update(_ body: (inout Snapshot) -> Void) {
        self.snapshot.withLock { body(&$0) }
    }
}
