import Foundation
import Testing

@testable import ToozCLI

@Suite struct DemoCommandTests {
    @Test func theDemoPassesItsChecksAndCleansUp() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // The demo makes its temporary directory in TMPDIR: ours, so we can see it is removed.
        let output = try await ToozProcess.run(["demo"], environment: ["TMPDIR": scratch.path])
        #expect(output.status == 0, "stdout: \(output.stdout)\nstderr: \(output.stderr)")
        #expect(output.stdout.contains("✓ all checks passed"))
        #expect(!output.stdout.contains("✗"))
        #expect(output.stdout.contains("counter = 100"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        #expect(leftovers.isEmpty)
    }

    @Test func theDemoRefusesABackendThatLivesInOneProcess() async throws {
        let output = try await ToozProcess.run(["demo", "--url", "memory://"])
        #expect(output.status == ExitStatus.unsupported.rawValue)
        #expect(output.stderr.contains("memory://"))
    }
}
