import ToozServerTestSupport
import Foundation
import Testing
import ToozBackends
import ToozTestKit
@testable import ToozZooKeeper

/// A coordinator whose ZooKeeper session expires: every lease is lost, the client opens a new
/// session, and the heartbeat puts the member back into the groups it had joined.
@Suite(
    "ZooKeeper session expiry",
    .serialized,
    .enabled(if: ZooKeeperTestServer.testsEnabled, "java or Debian's zookeeper jars are missing (apt-get install zookeeper)"),
    .timeLimit(.minutes(3))
)
struct ZooKeeperSessionExpiryTests {
    @Test func leasesAreLostAndTheMemberRejoinsOnANewSession() async throws {
        try await ZooKeeperTestServer.withServer { server in
            let url = server.url + "?" + ZooKeeperTestServer.sessionOptions(seconds: 3)
            let (backend, configuration) = try BackendFactory.makeBackend(url: url)
            let zooKeeper = try #require(backend as? ZooKeeperBackend)
            let coordinator = try Coordinator(backend: backend, member: "survivor", configuration: configuration)
            try await coordinator.withRunning {
                // The 3 s session can expire before the test means it to on a machine starved in
                // the suite's first minute: the setup is retried until it holds on one session.
                var setup: (lease: Lease, session: Int64)?
                try await eventually("the group, membership and lock to be set up on one session", toleratingErrors: true) {
                    let session = try #require(try zooKeeper.client().session?.id)
                    do { try await coordinator.createGroup("expiring") } catch let error as ToozError where error.code == .groupAlreadyExists {}
                    do {
                        try await coordinator.join("expiring", capabilities: ["generation": 1])
                    } catch let error as ToozError where error.code == .memberAlreadyJoined {}
                    let lease = try #require(try await coordinator.lock(named: "expiring-lock").tryAcquire())
                    guard try zooKeeper.client().session?.id == session else {
                        _ = try? await lease.release()
                        return false
                    }
                    setup = (lease, session)
                    return true
                }
                let (lease, firstSession) = try #require(setup)

                // A stopped server cannot answer pings: past the session timeout, the client
                // gives the session up, and the server expires it when it runs again.
                server.pause()
                try await eventually("the client to give the session up") {
                    // `expired` passes quickly (a new session follows), so any state past it counts.
                    switch try zooKeeper.client().state {
                    case .expired, .connecting: true
                    case .connected(let session): session.id != firstSession
                    default: false
                    }
                }
                server.resume()
                // The loss reaches the lease through its next renewal, which fails with the session.
                try await eventually("the lease to be lost with the session (now \(lease.state))") { !lease.state.isUsable }

                // A new session, and the member is back with its capabilities.
                var members: [MemberID: Capabilities] = [:]
                try await eventually("the member to be back on a new session", toleratingErrors: true) {
                    guard let session = try zooKeeper.client().session?.id, session != firstSession else { return false }
                    members = try await coordinator.membersWithCapabilities(of: "expiring")
                    return members["survivor"] != nil
                }
                #expect(members == ["survivor": ["generation": 1]])
                #expect(try zooKeeper.client().session?.id != firstSession)
                // The lock is free again once the server has expired the old session (we gave
                // it up first: our deadline is earlier than the server's, on purpose).
                let again = try await coordinator.lock(named: "expiring-lock").acquire(wait: .upTo(.testPatience))
                #expect(again.fencingToken > lease.fencingToken)
                #expect(try await again.release())
            }
        }
    }
}
