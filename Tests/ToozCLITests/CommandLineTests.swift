import Foundation
import Testing

@testable import ToozCLI

/// `tooz` as a process, on backends that need nothing shared: exit statuses and error lines.
@Suite struct CommandLineTests {
    @Test func lockPassesTheCommandsExitStatusOn() async throws {
        let exited = try await ToozProcess.run(["lock", "--url", "memory://", "status", "--", "sh", "-c", "exit 7"])
        #expect(exited.status == 7)
        #expect(exited.stderr.isEmpty)

        let signalled = try await ToozProcess.run(["lock", "--url", "memory://", "status", "--", "sh", "-c", "kill -TERM $$"])
        #expect(signalled.status == 128 + SIGTERM)

        let succeeded = try await ToozProcess.run(["lock", "--url", "memory://", "status", "--", "true"])
        #expect(succeeded.status == 0)
    }

    @Test func electPassesTheCommandsExitStatusOnAndSetsTheToken() async throws {
        let output = try await ToozProcess.run([
            "elect", "--url", "memory://", "leaders", "--", "sh", "-c", "echo \"$TOOZ_GROUP $TOOZ_FENCING_TOKEN\"; exit 4",
        ])
        #expect(output.status == 4)
        #expect(output.stdout == "leaders 1\n")
    }

    @Test func aMissingCommandIsReportedOnOneLine() async throws {
        let output = try await ToozProcess.run(["lock", "--url", "memory://", "x", "--", "tooz-no-such-command-\(Platform.processID)"])
        #expect(output.status == ExitStatus.commandNotFound.rawValue)
        #expect(output.stderrLines.count == 1)
        #expect(output.stderr.hasPrefix("tooz: tooz-no-such-command"))
    }

    @Test func lockWithoutACommandIsAUsageError() async throws {
        let output = try await ToozProcess.run(["lock", "--url", "memory://", "x"])
        #expect(output.status == ExitStatus.usage.rawValue)
    }

    @Test(arguments: [["--wait", "1e16"], ["--grace", "1e300"], ["--wait", "nan"], ["--grace", "-0.5"]])
    func hugeOrBadDurationsAreUsageErrorsNotTraps(_ option: [String]) async throws {
        let output = try await ToozProcess.run(["lock", "--url", "memory://", "x"] + option + ["--", "true"])
        #expect(output.status == ExitStatus.usage.rawValue, "stderr: \(output.stderr)")
        #expect(output.stderr.contains("must be a number of seconds") || output.stderr.contains("Missing value"))
    }

    @Test func aBadURLIsAConfigurationErrorOnOneLine() async throws {
        let noScheme = try await ToozProcess.run(["leader", "--url", "nonsense", "g"])
        #expect(noScheme.status == ExitStatus.configuration.rawValue)
        #expect(noScheme.stderrLines.count == 1)
        #expect(noScheme.stderr.hasPrefix("tooz: "))
        #expect(noScheme.stderr.contains("no scheme"))

        let unknownScheme = try await ToozProcess.run(["group", "list", "--url", "nosuchdb://admin:hunter2@db.example/"])
        #expect(unknownScheme.status == ExitStatus.configuration.rawValue)
        #expect(unknownScheme.stderrLines.count == 1)
        #expect(unknownScheme.stderr.contains("nosuchdb"))
        #expect(!unknownScheme.stderr.contains("hunter2"))

        let unknownOption = try await ToozProcess.run(["group", "list", "--url", "memory://?colour=blue"])
        #expect(unknownOption.status == ExitStatus.configuration.rawValue)
        #expect(unknownOption.stderr.contains("colour"))
    }

    @Test func theURLComesFromTheEnvironmentWhenNotGiven() async throws {
        let output = try await ToozProcess.run(["group", "list"], environment: ["TOOZ_URL": "nosuchdb://x"])
        #expect(output.status == ExitStatus.configuration.rawValue)
        #expect(output.stderr.contains("nosuchdb"))
    }

    @Test func leaderExitsOneWhenNobodyLeads() async throws {
        let output = try await ToozProcess.run(["leader", "--url", "memory://", "nobody-leads"])
        #expect(output.status == ExitStatus.negative.rawValue)
        #expect(output.stdout.isEmpty)
        #expect(output.stderr.isEmpty)
    }

    @Test func stateErrorsAndBadDataHaveTheirOwnStatuses() async throws {
        let missing = try await ToozProcess.run(["group", "members", "--url", "memory://", "missing"])
        #expect(missing.status == ExitStatus.refused.rawValue)
        #expect(missing.stderr.contains("does not exist"))

        let badJSON = try await ToozProcess.run([
            "group", "join", "--url", "memory://", "--create", "g", "--capabilities", "{\"a\": ",
        ])
        #expect(badJSON.status == ExitStatus.dataError.rawValue)
        #expect(badJSON.stderrLines.count == 1)
    }

    @Test func ipcSaysWhatItDoesNotImplement() async throws {
        let output = try await ToozProcess.run(["group", "members", "--url", "ipc://", "g"])
        #expect(output.status == ExitStatus.unsupported.rawValue)
        #expect(output.stderr.contains("ipc"))
    }
}
