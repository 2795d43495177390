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

    @Test func aWatchGoesOnThroughARestartAndReportsTheDifference() async throws {
        try await MemcachedTestServer.withServer { server in
            let url = Self.url(server)
            let member = try ToozProcess.start(["group", "join", "--url", url, "--member", "m1", "--create", "watched"])
            defer { member.cleanUp() }
            try await eventually("the member to join") { member.stderr.contains("joined group \"watched\" as") }
            let watch = try ToozProcess.start(["watch", "--url", url, "--member", "w", "watched"])
            defer { watch.cleanUp() }
            try await eventually("the snapshot") { watch.stdout.hasPrefix("snapshot members=[m1]") }
            try await server.restart()
            // The server forgot the group; m1's join --create puts it back. Whether the watch saw
            // m1 leave and come back depends on when it read (both can fall between two reads);
            // what must hold is that it still follows the group: a new member shows up.
            try await eventually("m1 to be back") { member.stderr.contains("joined group \"watched\" again") }
            let second = try ToozProcess.start(["group", "join", "--url", url, "--member", "m2", "watched"])
            defer { second.cleanUp() }
            try await eventually("the watch to report m2") {
                watch.stdout.split(separator: "\n").contains { $0.hasPrefix("joined m2") }
            }
            #expect(watch.child.isRunning, "stderr: \(watch.stderr)")
            watch.child.signal(SIGTERM)
            #expect(try await watch.wait() == .exited(0), "stderr: \(watch.stderr)")
        }
    }
}
