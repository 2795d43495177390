#if canImport(Glibc)
import Glibc
#endif
import Testing
import ToozServerTestSupport
import ToozTestKit

@testable import ToozCLI

/// `tooz group join` when the server forgets everything (a memcached restart): the loss is
/// reported, and the member is back in the group (`--create`) or the command fails, instead of
/// heartbeating on silently outside a group that no longer exists.
@Suite(
    .enabled(if: MemcachedTestServer.testsEnabled, "memcached is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct GroupJoinOutageTests {
    private static func url(_ server: MemcachedTestServer) -> String {
        "memcached://127.0.0.1:\(server.port)?timeout=3"
    }

    @Test func withCreateTheGroupIsMadeAgainAndJoined() async throws {
        try await MemcachedTestServer.withServer { server in
            let url = Self.url(server)
            let member = try ToozProcess.start(["group", "join", "--url", url, "--member", "m1", "--create", "outage"])
            defer { member.cleanUp() }
            try await eventually("the member to join") { member.stderr.contains("joined group \"outage\" as") }
            try await server.restart()
            try await eventually("the member to be back", toleratingErrors: true) {
                guard member.stderr.contains("joined group \"outage\" again") else { return false }
                return try await ToozProcess.run(["group", "members", "--url", url, "outage"]).stdout == "m1\n"
            }
            #expect(member.stderr.contains("group \"outage\" is gone; creating it again"), "stderr: \(member.stderr)")
            member.child.signal(SIGTERM)
            #expect(try await member.wait() == .exited(0), "stderr: \(member.stderr)")
        }
    }

    @Test func withoutCreateTheJoinFailsWhenTheGroupIsGone() async throws {
        try await MemcachedTestServer.withServer { server in
            let url = Self.url(server)
            let created = try await ToozProcess.run(["group", "create", "--url", url, "outage"])
            #expect(created.status == 0, "stderr: \(created.stderr)")
            let member = try ToozProcess.start(["group", "join", "--url", url, "--member", "m1", "outage"])
            defer { member.cleanUp() }
            try await eventually("the member to join") { member.stderr.contains("joined group \"outage\" as") }
            try await server.restart()
            #expect(try await member.wait() == .exited(2), "stderr: \(member.stderr)")
            #expect(member.stderr.contains("group \"outage\" is gone"), "stderr: \(member.stderr)")
        }
    }

    @Test(.enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed (scripts/test installs it)"))
    func onRedisTooTheMemberIsBackAfterARestart() async throws {
        try await RedisTestServer.withServer { server in
            let url = "redis://127.0.0.1:\(server.port)?timeout=3"
            let member = try ToozProcess.start(["group", "join", "--url", url, "--member", "m1", "--create", "outage"])
            defer { member.cleanUp() }
            try await eventually("the member to join") { member.stderr.contains("joined group \"outage\" as") }
            try await server.restart()
            try await eventually("the member to be back", toleratingErrors: true) {
                guard member.stderr.contains("joined group \"outage\" again") else { return false }
                return try await ToozProcess.run(["group", "members", "--url", url, "outage"]).stdout == "m1\n"
            }
            member.child.signal(SIGTERM)
            #expect(try await member.wait() == .exited(0), "stderr: \(member.stderr)")
        }
    }
}
