import Foundation
import Testing

@testable import ToozCLI

/// `tooz torture` with real worker processes on a file:// backend in a scratch directory.
@Suite struct TortureCommandTests {
    @Test func aShortRunWithKillsAndStopsPasses() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let output = try await ToozProcess.run(
            ["torture", "--url", scratch.fileURL, "--processes", "3", "--duration", "6", "--faults", "kill,stop",
             "--seed", "7", "--json"],
            limit: .seconds(60)
        )
        #expect(output.status == 0, "stdout: \(output.stdout)\nstderr: \(output.stderr)")
        let report = try JSONValue(parsing: output.stdout)
        guard case .object(let fields) = report else {
            Issue.record("not a JSON object: \(output.stdout)")
            return
        }
        let field = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        #expect(field["verdict"] == .string("pass"))
        #expect(field["seed"] == .int(7))
        guard case .int(let holds) = field["holds"], case .int(let increments) = field["accepted_increments"],
            case .int(let value) = field["register_value"], case .object(let faults) = field["faults"]
        else {
            Issue.record("missing figures: \(output.stdout)")
            return
        }
        #expect(holds > 0)
        #expect(increments > 0)
        #expect(value == increments)
        let injected = faults.reduce(Int64(0)) { sum, fault in
            if case .int(let count) = fault.1 { sum + count } else { sum }
        }
        #expect(injected > 0)
        #expect(field["violations"] == .array([]))
        if case .int(let terms) = field["leadership_terms"] { #expect(terms > 0) } else { Issue.record("no leadership_terms") }
        #expect(output.stderr.contains("replay: tooz torture"))
        #expect(output.stderr.contains("--seed 7"))
    }

    @Test func theTextReportEndsWithTheVerdict() async throws {
        let output = try await ToozProcess.run(
            ["torture", "--processes", "2", "--duration", "2", "--faults", "stop", "--seed", "3"], limit: .seconds(60)
        )
        #expect(output.status == 0, "stdout: \(output.stdout)\nstderr: \(output.stderr)")
        #expect(output.stdout.contains("seed 3"))
        #expect(output.stdout.split(separator: "\n").last?.hasPrefix("✓ verdict: no violation") == true)
    }

    @Test func badOptionsAndSingleProcessBackendsAreRefused() async throws {
        let unknown = try await ToozProcess.run(["torture", "--faults", "kill,flood"])
        #expect(unknown.status == ExitStatus.usage.rawValue)
        #expect(unknown.stderr.contains("flood"))
        let memory = try await ToozProcess.run(["torture", "--url", "memory://", "--duration", "1"])
        #expect(memory.status == ExitStatus.unsupported.rawValue)
        #expect(memory.stderr.contains("memory://"))
    }
}
