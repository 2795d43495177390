import ArgumentParser
import ToozBackends

/// `tooz demo`: the library's main job, shown with real processes and checked.
struct DemoCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Watch worker processes join a group, fail over a leader and share a fenced lock; check the result.",
        discussion: """
            Starts --workers copies of this program on a fresh file:// backend in a temporary \
            directory (or on --url / $TOOZ_URL when given). The workers join the group \
            "demo-workers" with capabilities and campaign for its leadership. The demo kills the \
            leader with SIGKILL and times the election of the next one, starts a replacement \
            worker, then every worker increments a shared counter file --increments times under \
            the lock "demo-counter", reading it, sleeping a little and writing it back, so that \
            any overlap would lose an update. Finally it checks: counter = workers × increments, \
            fencing tokens strictly increasing in acquisition order, no two lock holders \
            overlapping, exactly one leader at a time. Workers are killed and reaped and the \
            temporary directory removed on every path, including Ctrl-C.

            Exit status: 0 when every check passed; 1 when one failed; 3 when the backend lacks \
            groups, leader election or locks, or cannot be shared between processes; 130 when \
            interrupted.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "How many worker processes (2-16).")
    var workers = 4

    @Option(help: "How many increments each worker makes (1-1000).")
    var increments = 25

    @Option(help: ArgumentHelp("Milliseconds each holder sleeps between reading and writing the counter.", valueName: "ms"))
    var holdMs = 2

    func validate() throws {
        guard (2...16).contains(workers) else { throw ValidationError("--workers must be between 2 and 16") }
        guard (1...1000).contains(increments) else { throw ValidationError("--increments must be between 1 and 1000") }
        guard (0...1000).contains(holdMs) else { throw ValidationError("--hold-ms must be between 0 and 1000") }
    }

    func run() async throws {
        let explicitURL = global.url != nil || !(Platform.environment["TOOZ_URL"] ?? "").isEmpty
        let resolvedURL = explicitURL ? global.resolvedURL() : nil
        let (verbose, workers, increments, holdMs) = (global.verbose, self.workers, self.increments, self.holdMs)
        let (directory, outcome) = try await ScratchRun.run(prefix: "tooz-demo-") { directory, registry in
            try await DemoRun(
                url: resolvedURL ?? "file://" + GlobalOptions.percentEncodePath(directory) + "/backend",
                directory: directory,
                memberSuffix: explicitURL ? ".\(Platform.processID)" : "",
                workers: workers,
                increments: increments,
                holdMilliseconds: holdMs,
                verbose: verbose,
                registry: registry
            ).run()
        }
        switch outcome {
        case .success(true): return
        case .success(false): throw CLIFailure(.negative, nil)
        case .failure(let error as Interrupted):
            Console.error("tooz demo: interrupted; workers stopped, \(directory) removed")
            throw error
        case .failure(let error): throw error
        }
    }
}
