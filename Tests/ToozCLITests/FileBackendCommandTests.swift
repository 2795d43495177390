import Foundation
import Testing
import ToozTestKit

@testable import ToozCLI

/// Commands whose state outlives one process, on a fresh file:// directory per test.
@Suite struct FileBackendCommandTests {
    @Test func aBusyLockExits75WithOneLineOnStderr() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = scratch.path + "/holder.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", scratch.fileURL, "busy", "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }

        let tried = try await ToozProcess.run(["lock", "--url", scratch.fileURL, "--wait", "0", "busy", "--", "true"])
        #expect(tried.status == 75)
        #expect(tried.stderrLines.count == 1)
        #expect(tried.stderr.hasPrefix("tooz: "))
        #expect(tried.stdout.isEmpty)

        let waited = try await ToozProcess.run(["lock", "--url", scratch.fileURL, "--wait", "0.2", "busy", "--", "true"])
        #expect(waited.status == 75)

        // SIGTERM to tooz is passed on to the command, whose status tooz passes on.
        holder.child.signal(SIGTERM)
        let termination = try await holder.wait()
        #expect(termination == .exited(128 + SIGTERM))
        let after = try await ToozProcess.run(["lock", "--url", scratch.fileURL, "--wait", "0", "busy", "--", "true"])
        #expect(after.status == 0)
    }

    @Test func anInterruptWhileWaitingExits130AndNeverRunsTheCommand() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = scratch.path + "/holder.pid"
        let ranFile = scratch.path + "/waiter-ran"
        let holder = try ToozProcess.start([
            "lock", "--url", scratch.fileURL, "queue", "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        let waiter = try ToozProcess.start(["lock", "--verbose", "--url", scratch.fileURL, "queue", "--", "touch", ranFile])
        defer { waiter.cleanUp() }
        // The debug log says when the waiter has connected, which is after it took over SIGINT.
        try await eventually("the waiter to connect") { waiter.stderr.contains("connected") }
        waiter.child.signal(SIGINT)
        #expect(try await waiter.wait() == .exited(128 + SIGINT))
        #expect(!Platform.fileExists(ranFile))
        holder.child.signal(SIGTERM)
        _ = try await holder.wait()
    }

    @Test func theFencingTokenIsSetAndIncreases() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var tokens: [UInt64] = []
        for _ in 0..<4 {
            let output = try await ToozProcess.run([
                "lock", "--url", scratch.fileURL, "fenced", "--", "sh", "-c", "echo $TOOZ_FENCING_TOKEN",
            ])
            #expect(output.status == 0)
            tokens.append(try #require(UInt64(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))))
        }
        #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func membersJSONShowsCapabilitiesAndJoinLeavesOnSIGTERM() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let created = try await ToozProcess.run(["group", "create", "--url", scratch.fileURL, "workers"])
        #expect(created.status == 0)
        let again = try await ToozProcess.run(["group", "create", "--url", scratch.fileURL, "workers"])
        #expect(again.status == ExitStatus.refused.rawValue)

        let capabilities = #"{"weight":2,"zone":"b","tags":["x",null,true],"ratio":0.5,"blob":{"$binary":"AAEC"}}"#
        let member = try ToozProcess.start([
            "group", "join", "--url", scratch.fileURL, "--member", "worker-a", "workers", "--capabilities", capabilities,
        ])
        defer { member.cleanUp() }

        var line = ""
        try await eventually("worker-a to show in members --json") {
            let output = try await ToozProcess.run(["group", "members", "--url", scratch.fileURL, "--json", "workers"])
            line = output.stdout
            return output.status == 0 && !output.stdout.isEmpty
        }
        #expect(line == #"{"member":"worker-a","capabilities":"# + capabilities + "}\n")
        let plain = try await ToozProcess.run(["group", "members", "--url", scratch.fileURL, "workers"])
        #expect(plain.stdout == "worker-a\n")
        let listed = try await ToozProcess.run(["group", "list", "--url", scratch.fileURL])
        #expect(listed.stdout == "workers\n")

        member.child.signal(SIGTERM)
        #expect(try await member.wait() == .exited(0))
        let after = try await ToozProcess.run(["group", "members", "--url", scratch.fileURL, "workers"])
        #expect(after.status == 0)
        #expect(after.stdout.isEmpty)
        let deleted = try await ToozProcess.run(["group", "delete", "--url", scratch.fileURL, "workers"])
        #expect(deleted.status == 0)
    }

    @Test func watchPrintsJSONEventsAndLeaderNamesTheLeader() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        _ = try await ToozProcess.run(["group", "create", "--url", scratch.fileURL, "watched"])
        let watcher = try ToozProcess.start(["watch", "--url", scratch.fileURL, "--json", "watched"])
        defer { watcher.cleanUp() }
        try await eventually("the snapshot line") { watcher.stdout.contains(#""event":"snapshot""#) }

        let pidFile = scratch.path + "/leader.pid"
        let leader = try ToozProcess.start([
            "elect", "--url", scratch.fileURL, "--member", "boss", "watched", "--", "sh", "-c",
            "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { leader.cleanUp() }
        try await eventually("the elected command to start") { readPID(pidFile) != nil }
        let named = try await ToozProcess.run(["leader", "--url", scratch.fileURL, "watched"])
        #expect(named.status == 0)
        #expect(named.stdout == "boss\n")
        try await eventually("joined and leader events") {
            let text = watcher.stdout
            return text.contains(#"{"event":"joined","group":"watched","member":"boss","capabilities":null}"#)
                && text.contains(#"{"event":"leader","group":"watched","leader":"boss"}"#)
        }

        leader.child.signal(SIGTERM)
        #expect(try await leader.wait() == .exited(128 + SIGTERM))
        let nobody = try await ToozProcess.run(["leader", "--url", scratch.fileURL, "watched"])
        #expect(nobody.status == ExitStatus.negative.rawValue)

        watcher.child.signal(SIGINT)
        #expect(try await watcher.wait() == .exited(0))
        for line in watcher.stdout.split(separator: "\n") {
            #expect(throws: Never.self) { try JSONValue(parsing: String(line)) }
        }
    }
}
