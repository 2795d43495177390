import ToozServerTestSupport
import Foundation
import Testing
import ToozBackends
import ToozTestKit
@testable import ToozZooKeeper

/// A coordinator on a three-server ensemble when the server it is connected to stops: the
/// session moves to another server, so its lock stays held and its event stream keeps flowing.
@Suite(
    "ZooKeeper coordinator across an ensemble failover",
    .serialized,
    .enabled(if: ZooKeeperTestServer.testsEnabled, "java or Debian's zookeeper jars are missing (apt-get install zookeeper)"),
    .timeLimit(.minutes(4))
)
struct ZooKeeperEnsembleCoordinatorTests {
    @Test func theLockStaysHeldAndEventsKeepFlowingWhenTheConnectedServerStops() async throws {
        try await ZooKeeperTestServer.withEnsemble(size: 3) { servers in
            let hosts = servers.map { "127.0.0.1:\($0.port)" }
            let options = ZooKeeperTestServer.sessionOptions(seconds: 20)
            let url = "zookeeper://\(hosts[0])?hosts=\(hosts[1])&hosts=\(hosts[2])&\(options)"
            let (backend, configuration) = try BackendFactory.makeBackend(url: url)
            let zooKeeper = try #require(backend as? ZooKeeperBackend)
            let holder = try Coordinator(backend: backend, member: "holder", configuration: configuration)
            let observer = try Coordinator(url: url, member: "observer")
            try await holder.withRunning {
                try await observer.withRunning {
                    try await holder.createGroup("ensemble")
                    try await holder.join("ensemble")
                    let lease = try #require(try await holder.lock(named: "ensemble-lock").tryAcquire())
                    let tokenBefore = lease.fencingToken
                    var events = try holder.events(in: "ensemble").makeAsyncIterator()
                    guard case .snapshot(let snapshot) = try await events.next() else {
                        Issue.record("the stream did not start with a snapshot")
                        return
                    }
                    #expect(snapshot.members.keys.contains("holder"))

                    let connected = try #require(try zooKeeper.client().connectedServer)
                    let victim = try #require(servers.first { $0.server == connected })
                    await victim.stop()

                    // The observer may have been on the same server: it retries until it is not.
                    try await eventually("the observer joins", toleratingErrors: true) {
                        try await observer.join("ensemble")
                        return true
                    }
                    var joined = false
                    while !joined, let event = try await events.next() {
                        if case .joined(let member, _) = event, member == "observer" { joined = true }
                    }
                    #expect(joined)
                    #expect(try zooKeeper.client().connectedServer != victim.server)
                    #expect(lease.state.isUsable)
                    #expect(lease.fencingToken == tokenBefore)
                    var busy: Lease?
                    try await eventually("the observer asks for the lock", toleratingErrors: true) {
                        busy = try await observer.lock(named: "ensemble-lock").tryAcquire()
                        return true
                    }
                    #expect(busy == nil)
                    #expect(try await observer.lock(named: "ensemble-lock").holder() == "holder")
                    #expect(try await lease.release())
                    try await observer.leave("ensemble")
                    try await holder.leave("ensemble")
                }
            }
        }
    }
}
