import Foundation
import Logging
import Testing
import ToozBackends
import ToozServerTestSupport
import ToozTestKit

@testable import ToozEtcd

/// A three-member etcd cluster on loopback: the Raft leader is killed with SIGKILL while a
/// coordinator connected to it holds a lock and a group membership. The coordinator fails over
/// to another member on the same session lease: its lock stays held with the same token, nobody
/// else gets it, and the events of a watcher that was connected to the leader too keep flowing
/// (its watches resume on another member from the last revision it heard).
@Suite(
    "etcd cluster failover",
    .enabled(if: EtcdTestServer.testsEnabled, "etcd is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(4))
)
struct EtcdClusterTests {
    private static let logger = Logger(label: "test.etcd.cluster")

    /// The member that leads, asked of every running member until one knows.
    private static func leaderIndex(of cluster: EtcdTestServer) async throws -> Int {
        var found: Int?
        try await eventually("the cluster to name its leader", toleratingErrors: true) {
            for (index, member) in cluster.members.enumerated() where member.pid != nil {
                let client = EtcdClient(
                    configuration: EtcdClientConfiguration(endpoints: [.init(host: "127.0.0.1", port: member.clientPort)]), logger: logger
                )
                let status: Etcdserverpb_StatusResponse
                do {
                    status = try await client.call("/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest(), what: "a status")
                } catch {
                    await client.close()
                    throw error
                }
                await client.close()
                if status.leader != 0, status.leader == status.header.memberID {
                    found = index
                    return true
                }
            }
            return false
        }
        return try #require(found)
    }

    @Test func killingTheLeaderKeepsTheLockTheTokenAndTheEvents() async throws {
        try await EtcdTestServer.withCluster(size: 3) { cluster in
            let leader = try await Self.leaderIndex(of: cluster)
            let others = cluster.members.indices.filter { $0 != leader }.map { cluster.members[$0].endpoint }
            // The holder and the watcher talk to the leader first (both must move, and the
            // watcher's watches resume on another member); the rival talks to a follower.
            let holderURL = "etcd3+http://\(cluster.members[leader].endpoint)?endpoints=\(others.joined(separator: ","))&timeout=10"
            let followerURL = "etcd3+http://\(others[0])?endpoints=\(others[1])&timeout=10"
            let holder = try Coordinator(url: holderURL, member: "holder")
            let watcher = try Coordinator(url: holderURL, member: "watcher")
            let rival = try Coordinator(url: followerURL, member: "rival")
            let group: GroupID = "cluster-group"

            try await holder.withRunning {
                try await watcher.withRunning {
                    try await rival.withRunning {
                        try await holder.createGroup(group)
                        try await holder.join(group)
                        let lease = try #require(try await holder.lock(named: "cluster-lock").tryAcquire())
                        let token = lease.fencingToken

                        try await withEvents(of: watcher, in: group) { log in
                            #expect(log.snapshot?.members.keys.contains("holder") == true)
                            cluster.members[leader].kill9()

                            // A new leader is elected and the rival's calls go through again, but
                            // the lock is still the holder's.
                            try await eventually("the rival to find the lock held", toleratingErrors: true) {
                                try await rival.lock(named: "cluster-lock").tryAcquire() == nil
                            }
                            // Events keep flowing through the failover.
                            try await rival.join(group)
                            try await log.waitFor(.joined("rival", capabilities: .nil))
                            try await rival.leave(group)
                            try await log.waitFor(.left("rival"))

                            // The holder's session lease survived on another member: the lease is
                            // held (after a refresh through the new connection) and the key is
                            // still the one it created.
                            try await eventually("the holder's lease to be held again") { lease.state == .held }
                            #expect(lease.fencingToken == token)
                            #expect(try await holder.members(of: group).contains("holder"))
                            #expect(try await lease.release())
                            #expect(!log.events(about: "holder").contains(.left("holder")))
                        }
                    }
                }
            }
        }
    }

    /// The member the holder talks to is frozen (SIGSTOP: its TCP connections stay open and
    /// nothing answers). The holder's connection notices the silence, it moves to another
    /// member, and its session lease, lock and membership carry on there.
    @Test func aFrozenMemberIsLeftForAnotherWithTheLeaseIntact() async throws {
        try await EtcdTestServer.withCluster(size: 3) { cluster in
            let members = cluster.members.map(\.endpoint)
            let holderURL = "etcd3+http://\(members[0])?endpoints=\(members[1]),\(members[2])&timeout=20"
            let holder = try Coordinator(url: holderURL, member: "holder")
            let group: GroupID = "frozen-group"
            try await holder.withRunning {
                try await holder.createGroup(group)
                try await holder.join(group)
                let lease = try #require(try await holder.lock(named: "frozen-lock").tryAcquire())
                cluster.members[0].pause()
                defer { cluster.members[0].resume() }
                // A call that needs the cluster goes through another member.
                try await eventually("the holder to reach the cluster again", toleratingErrors: true) {
                    try await holder.members(of: group).contains("holder")
                }
                try await eventually("the holder's lease to be held") { lease.state == .held }
                // The key is still the one it created, on the same lease.
                #expect(try await lease.release())
            }
        }
    }
}
