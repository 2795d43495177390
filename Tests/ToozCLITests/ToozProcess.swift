import Foundation
import Testing

@testable import ToozCLI

/// Runs the built `tooz` executable, which SwiftPM puts next to the test bundle
/// (`.build/<triple>/debug`). The test target depends on `ToozCLI`, which makes `swift build
/// --build-tests` and `swift test` build it.
enum ToozProcess {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String

        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// The path of the `tooz` executable.
    static let executable: String = {
        let bundle = Platform.executablePath()
        let directory = String(bundle[..<(bundle.lastIndex(of: "/") ?? bundle.endIndex)])
        return directory + "/tooz"
    }()

    /// Runs `tooz arguments…` to completion and collects its output. `limit` only guards
    /// against a hang; it is not a timing assertion.
    static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        limit: Duration = .seconds(120)
    ) async throws -> Output {
        let started = try start(arguments, environment: environment)
        defer { started.cleanUp() }
        let termination = try await started.wait(limit: limit)
        return Output(status: termination.shellStatus, stdout: started.stdout, stderr: started.stderr)
    }

    /// Starts `tooz arguments…` in the background.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Started {
        try #require(
            FileManager.default.isExecutableFile(atPath: executable),
            "tooz is not built at \(executable): run `swift build` first"
        )
        let scratch = try Platform.makeTemporaryDirectory(prefix: "tooz-cli-test-")
        var environment = environment
        // Keep the user's TOOZ_URL and state dir out of the tests.
        environment["TOOZ_URL"] = environment["TOOZ_URL"] ?? ""
        environment["XDG_STATE_HOME"] = environment["XDG_STATE_HOME"] ?? scratch + "/state"
        let child = try ChildProcess.spawn(
            [executable] + arguments,
            environment: environment,
            stdin: .null,
            stdout: .file(scratch + "/stdout"),
            stderr: .file(scratch + "/stderr")
        )
        return Started(child: child, scratch: scratch)
    }

    final class Started: Sendable {
        let child: ChildProcess
        let scratch: String

        init(child: ChildProcess, scratch: String) {
            self.child = child
            self.scratch = scratch
        }

        var stdout: String { Platform.readFile(scratch + "/stdout") ?? "" }
        var stderr: String { Platform.readFile(scratch + "/stderr") ?? "" }

        /// Waits for the process; kills it and fails the test when `limit` passes.
        func wait(limit: Duration = .seconds(120)) async throws -> ChildTermination {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if let termination = child.poll() { return termination }
                try await Task.sleep(for: .milliseconds(5))
            }
            await child.kill()
            Issue.record("tooz \(child.arguments.dropFirst().joined(separator: " ")) did not finish; killed it")
            throw CancellationError()
        }

        /// Kills the process if it still runs and removes its scratch directory.
        func cleanUp() {
            if child.isRunning {
                child.signal(SIGKILL)
                while child.poll() == nil { usleep(1000) }
            }
            Platform.removeTree(scratch)
        }
    }
}

/// A fresh directory for one test, removed by ``remove()``.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = try Platform.makeTemporaryDirectory(prefix: "tooz-cli-test-")
    }

    var fileURL: String { "file://" + path + "/backend" }

    func remove() { Platform.removeTree(path) }
}

/// The pid a command wrote with `echo $$ > file`, once the whole line is there.
func readPID(_ path: String) -> Int32? {
    guard let text = Platform.readFile(path), text.hasSuffix("\n") else { return nil }
    return Int32(text.dropLast())
}
