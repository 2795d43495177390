import Synchronization

/// The one lease a backend's keys ride on: every member key and lock key of one coordinator.
///
/// `provenAt` is when the request that last proved the lease (its grant or a keepalive) was
/// sent, on the coordinator's clock: the server keeps the lease at least `ttl` after that.
final class EtcdSessionLease: Sendable {
    let id: Int64
    let ttl: Duration
    private let proof: Mutex<Duration>

    init(id: Int64, ttl: Duration, provenAt: Duration) {
        self.id = id
        self.ttl = ttl
        self.proof = Mutex(provenAt)
    }

    var provenAt: Duration { proof.withLock { $0 } }

    /// A keepalive sent at `sentAt` was answered with a live TTL.
    func proven(at sentAt: Duration) {
        proof.withLock { $0 = max($0, sentAt) }
    }
}
