import ArgumentParser
import ToozBackends

/// `tooz bench`: our operations against the backend's raw round trip, in one run.
struct BenchCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure lock, hand-off, membership and failover latency against the backend's round trip.",
        discussion: """
            Measures, in one run: the backend's raw round trip (its cheapest real request on our \
            own connection), an uncontended lock acquire + release, the hand-off of a contended \
            lock between two coordinators in this process (from the holder's release until the \
            waiter holds it), group join / members / leave, and the leader failover after a \
            crash (a child process leads, it is killed with SIGKILL while this process \
            campaigns: the time until this process leads). Prints the median and 90th \
            percentile of each and its ratio to the round trip; rows the backend cannot do say \
            "not supported". Progress goes to stderr.

            Exit status: 0 after a complete run; 130 when interrupted; other statuses as in \
            `tooz --help`.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Iterations of each measurement (hand-off at most 50, membership at most 100).")
    var iterations = 200

    @Option(help: "How many leader failovers to measure.")
    var failovers = 5

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    @Flag(
        help: """
            Measure as a caller on Swift's cooperative pool, instead of on the backend's event loop \
            (withTaskExecutorPreference(coordinator.taskExecutor), what the docs advise a sequential caller).
            """
    )
    var fromCooperativePool = false

    func validate() throws {
        guard (1...100_000).contains(iterations) else { throw ValidationError("--iterations must be between 1 and 100000") }
        guard (0...100).contains(failovers) else { throw ValidationError("--failovers must be between 0 and 100") }
    }

    func run() async throws {
        let (url, verbose) = (global.resolvedURL(), global.verbose)
        let (iterations, failovers, onEventLoop) = (self.iterations, self.failovers, !fromCooperativePool)
        let (_, outcome) = try await ScratchRun.run(prefix: "tooz-bench-") { directory, registry in
            try await BenchRun(
                url: url,
                iterations: iterations,
                failoverRuns: failovers,
                onBackendExecutor: onEventLoop,
                directory: directory,
                verbose: verbose,
                registry: registry
            ).run()
        }
        let report = try outcome.get()
        Console.out(json ? report.json.text : report.table)
    }
}
