import Foundation
import Testing
import ToozServerTestSupport

@testable import ToozCLI

/// `tooz torture` with real worker processes on a file:// backend in a scratch directory.
@Suite struct TortureCommandTests {
    @Test func aShortRunWithKillsAndStopsPasses() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let output = try await ToozProcess.run(
            // A short membership timeout: killed workers must be seen gone from the group.
            ["torture", "--url", scratch.fileURL + "?membership_timeout=2", "--processes", "3", "--duration", "6", "--faults", "kill,stop",
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

    @Test func serverFaultsNeedTheServerCommandAndPartitionsAHostAndPort() async throws {
        let noCommand = try await ToozProcess.run(["torture", "--url", "redis://127.0.0.1:1", "--faults", "kill,server-restart"])
        #expect(noCommand.status == ExitStatus.usage.rawValue)
        #expect(noCommand.stderr.contains("--faults server-restart needs --server-command"))

        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let noPort = try await ToozProcess.run(["torture", "--url", scratch.fileURL, "--faults", "partition", "--duration", "1"])
        #expect(noPort.status == ExitStatus.usage.rawValue)
        #expect(noPort.stderr.contains("needs a URL with one host and an explicit port"))
        #expect(!Platform.fileExists(scratch.path + "/backend/journal.log"))
    }

    @Test func workersReachTheServerThroughTheirProxy() throws {
        #expect(
            TortureRun.url("redis://:pw@db.example:6379/0?lock_timeout=2", throughPort: 4242)
                == "redis://:pw@127.0.0.1:4242/0?lock_timeout=2"
        )
        #expect(TortureRun.url("zookeeper://[::1]:2181", throughPort: 7) == "zookeeper://127.0.0.1:7")
        #expect(TortureRun.url("memcached://10.0.0.1:11211?timeout=3", throughPort: 8) == "memcached://127.0.0.1:8?timeout=3")
        #expect(try TortureRun.partitionTarget("postgresql://u:p@127.0.0.1:5432/db") == ("127.0.0.1", 5432))
        #expect(throws: CLIFailure.self) { try TortureRun.partitionTarget("etcd3+http://127.0.0.1:2379?endpoints=127.0.0.1:2380") }
        #expect(throws: CLIFailure.self) { try TortureRun.partitionTarget("redis://127.0.0.1") }
    }

    /// A server that ends by itself mid-run (here: its command's shell exits, and the server it
    /// left in the background is killed with the group) ends the run: it would prove nothing.
    @Test(.enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed: run scripts/test"))
    func aServerThatEndsByItselfEndsTheRun() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let port = try RedisTestServer.freePort()
        let output = try await ToozProcess.run(
            ["torture", "--url", "redis://127.0.0.1:\(port)?lock_timeout=2", "--processes", "2", "--duration", "60",
             "--faults", "kill", "--server-command",
             "redis-server --port \(port) --bind 127.0.0.1 --save '' --dir \(scratch.path) & sleep 2; exit 0"],
            limit: .seconds(120)
        )
        #expect(output.status == ExitStatus.unavailable.rawValue, "stdout: \(output.stdout)\nstderr: \(output.stderr)")
        #expect(output.stderr.contains("the server started by --server-command ended on its own"))
        #expect(!ServerProcess.acceptsConnections(port: port))
    }
}
