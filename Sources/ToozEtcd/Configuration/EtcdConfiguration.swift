import Tooz

/// Everything the `etcd3+http://` backend needs: how to reach the cluster, and the TTL of the
/// session lease its keys ride on.
package struct EtcdConfiguration: Sendable {
    package var client: EtcdClientConfiguration
    /// The session lease's TTL: the shortest of the membership, lock and leader TTLs, in whole
    /// seconds (etcd counts leases in seconds, and may grant more than asked).
    package var sessionTTL: Duration

    package init(client: EtcdClientConfiguration, sessionTTL: Duration) {
        self.client = client
        self.sessionTTL = sessionTTL
    }
}
