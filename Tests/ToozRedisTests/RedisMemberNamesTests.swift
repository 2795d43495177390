import Logging
import NIOCore
import Testing
import Tooz
import ToozServerTestSupport
@testable import ToozRedis

/// `members(of:)` on redis:// reads names only (its own script, no capabilities decoded) and
/// prunes as tooz's `get_members` does: a member whose beat key is gone is removed from the group
/// hash, the caller is never pruned, and the `__created__` marker is not a member.
@Suite(
    "Redis member names",
    .enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed (scripts/test installs it)")
)
struct RedisMemberNamesTests {
    static let logger = Logger(label: "redis-member-names-test")

    @Test func namesArePrunedLikeToozAndCapabilitiesAreNotNeeded() async throws {
        try await RedisTestServer.withServer { server in
            let raw = try await RedisConnection.connect(
                to: server.endpoint, configuration: RedisConnectionConfiguration(), logger: Self.logger
            )
            let (backend, configuration) = try RedisBackends.make(BackendURL("redis://127.0.0.1:\(server.port)"))
            let coordinator = try Coordinator(backend: backend, member: "me", configuration: configuration)
            try await coordinator.withRunning {
                await #expect(throws: ToozError.self) { try await coordinator.members(of: "nowhere") }
                try await coordinator.createGroup("workers")
                try await coordinator.join("workers", capabilities: ["weight": 2])
                // A live Python-style member, and one whose process died long ago (no beat key).
                // Neither field holds valid capabilities: names-only reads must not decode them.
                _ = try await raw.send(RedisCommand("PSETEX", "_tooz_beats:alive", 30_000, "Not dead!"))
                _ = try await raw.send(RedisCommand("HSET", "_tooz_group:workers", "alive", ByteBuffer(bytes: [0xC1])))
                _ = try await raw.send(RedisCommand("HSET", "_tooz_group:workers", "dead", ByteBuffer(bytes: [0xC1])))

                #expect(try await coordinator.members(of: "workers") == ["me", "alive"])
                let fields = try await raw.send(RedisCommand("HKEYS", "_tooz_group:workers"))
                guard case .array(.some(let values)) = fields else {
                    Issue.record("HKEYS answered \(fields)")
                    return
                }
                let names = Set(values.compactMap(\.string))
                #expect(!names.contains("dead"), "the dead member's field is pruned")
                #expect(names == ["__created__", "alive", "me"])
            }
            await raw.close()
        }
    }
}
