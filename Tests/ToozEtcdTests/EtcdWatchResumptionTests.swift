import Foundation
import Logging
import Synchronization
import Testing
import Tooz
import ToozServerTestSupport
import ToozTestKit

@testable import ToozEtcd

/// The watch registry across connections: a topic's watches are made again on a new connection
/// from the revision after the last one heard, so changes made while no connection was up are
/// signalled; when that revision has been compacted away, the watch starts from now and the
/// topic is signalled anyway, so its reader takes a fresh snapshot.
@Suite(
    "etcd watch resumption",
    .enabled(if: EtcdTestServer.testsEnabled, "etcd is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(2))
)
struct EtcdWatchResumptionTests {
    private static let logger = Logger(label: "test.etcd.watch")

    private static func client(_ server: EtcdTestServer) -> EtcdClient {
        EtcdClient(configuration: EtcdClientConfiguration(endpoints: [.init(host: "127.0.0.1", port: server.port)]), logger: logger)
    }

    private static func put(_ client: EtcdClient, _ key: String) async throws -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data("v".utf8)
        return try await client.put(request).header.revision
    }

    @Test(arguments: [false, true])
    func aNewConnectionResumesTheWatchOrFallsBackAfterACompaction(compacted: Bool) async throws {
        try await EtcdTestServer.withServer { server in
            let first = Self.client(server)
            let registry = EtcdWatchRegistry()
            let topic = ChangeTopic.lock(.lock("resumed"))
            let key = Array("/tooz/locksresumed".utf8)
            let signal = await registry.retain(topic, ranges: [.init(key: key, rangeEnd: nil)], connection: try await first.connectionHandle())
            #expect(registry.isWatching(topic))

            // A change heard on the first connection.
            var seen = signal.generation
            _ = try await Self.put(first, "/tooz/locksresumed")
            try await withDeadline("the first change to be signalled") { [seen] in try await signal.wait(since: seen) }

            // The first connection goes away; changes happen meanwhile (and perhaps a compaction).
            await first.close()
            let second = Self.client(server)
            var last: Int64 = 0
            for _ in 0..<3 { last = try await Self.put(second, "/tooz/locksresumed") }
            if compacted {
                var compaction = Etcdserverpb_CompactionRequest()
                compaction.revision = last
                compaction.physical = true
                let _: Etcdserverpb_CompactionResponse = try await second.call("/etcdserverpb.KV/Compact", compaction, what: "a compaction")
            }

            seen = signal.generation
            await registry.reattach(on: try await second.connectionHandle())
            // Signalled either way: replayed changes, or a fresh snapshot after the compaction.
            #expect(signal.generation > seen)
            #expect(registry.isWatching(topic))

            // And the new watch hears what comes next.
            seen = signal.generation
            _ = try await Self.put(second, "/tooz/locksresumed")
            try await withDeadline("a change after the reconnect to be signalled") { [seen] in try await signal.wait(since: seen) }
            registry.release(topic)
            #expect(!registry.isWatching(topic))
            await second.close()
        }
    }
}
