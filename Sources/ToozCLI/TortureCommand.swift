import ArgumentParser
import ToozBackends

/// `tooz torture`: worker processes share a fenced lock while the harness kills and pauses them;
/// a checker then verifies the history. The tool a user runs to trust a backend.
struct TortureCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture",
        abstract: "Kill and pause worker processes that share a lock; check that fencing kept the data right.",
        discussion: """
            Starts --processes copies of this program on --url (or $TOOZ_URL; without either, a \
            fresh file:// backend in a temporary directory). Each loops: take the lock --lock \
            with withLock, read a fenced register (a counter file that refuses any read or write \
            with a fencing token lower than one it has already served) with the lease's token, \
            sleep --hold-ms, write the value plus one, and journal the hold on the monotonic \
            clock. Meanwhile, at random intervals, the harness injects --faults: kill (SIGKILL a \
            worker and start a replacement), stop (SIGSTOP a worker for a random time, up to \
            and beyond the lock TTL on a TTL backend, then SIGCONT), partition (cut one worker \
            off the server for such a time: each worker reaches the server through a proxy of \
            the harness, which stops carrying bytes), and with --server-command, which makes the \
            harness start the server itself: server-stop (SIGSTOP the server's processes for \
            such a time) and server-restart (SIGKILL them and run the command again on the same \
            data). The random choices come from \
            --seed, printed so that a run can be replayed. When the backend has leader election, \
            the workers also win and give up the leadership of the group "<lock>-leaders" in a \
            loop, journaling each term.

            Then it checks the journal and the register: fencing tokens strictly increasing in \
            acquisition order; the register's final value equal to the number of accepted \
            increments (none lost, none duplicated); no accepted write with a token lower than \
            an accepted one, and no two accepted read-increment-writes overlapping; lock holds \
            overlapping, or the register refusing a holder, only when that holder had been \
            paused (its lease ran out while it was stopped: fencing at work, counted, not a \
            violation); leadership terms disjoint, with tokens increasing, unless the earlier \
            leader was paused; a partitioned worker or a stopped server excuses nothing (the core \
            must stop a body before the server can hand its lock on). A restart of a server whose \
            backend's fencing does not survive it (redis, memcached without persistence) may \
            reset tokens and let a holder from before it run on beside a new one, up to the \
            lease TTL: counted, as the documented bound. Killed workers must leave the group \
            within the membership timeout, and an event stream the harness follows must agree \
            with the members at the end. It prints the verdict and figures: faults by kind, \
            holds, refused stale operations, the largest overlap, the worst failover after \
            killing a holder, and how long the server and the members took to recover.

            Exit status: 0 when no violation was found; 4 when the checker found a violation; \
            1 when the run proved nothing (no hold, or a worker exited on its own); 3 when the \
            backend lacks locks or cannot be shared between processes; 130 when interrupted.
            """
    )

    enum Fault: String, CaseIterable, Sendable {
        case kill
        case stop
        case partition
        case serverStop = "server-stop"
        case serverRestart = "server-restart"

        var needsServerCommand: Bool { self == .serverStop || self == .serverRestart }
    }

    @OptionGroup var global: GlobalOptions

    @Option(help: "How many worker processes (2-16).")
    var processes = 4

    @Option(help: ArgumentHelp("How long to inject faults, in seconds (1-3600).", valueName: "seconds"))
    var duration: Double = 20

    @Option(help: ArgumentHelp("The faults to inject, comma-separated: kill, stop, partition, server-stop, server-restart; none for none.", valueName: "kinds"))
    var faults = "kill,stop"

    @Option(
        help: ArgumentHelp(
            "A shell command that runs the backend server in the foreground on --url's data, for the server faults; the harness starts it, and stops it at the end.",
            valueName: "command"
        )
    )
    var serverCommand: String?

    @Option(help: "The name of the lock the workers share.")
    var lock = "tooz-torture"

    @Option(help: "The seed of the random fault schedule (default: a random one, printed).")
    var seed: UInt64?

    @Option(help: ArgumentHelp("Milliseconds each holder sleeps between reading and writing the register (0-1000).", valueName: "ms"))
    var holdMs = 5

    @Option(
        help: ArgumentHelp(
            "A directory to copy the run's history into (journal, register log, worker and server logs), to study a verdict.",
            valueName: "dir"
        )
    )
    var keepHistory: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    var faultKinds: [Fault] {
        faults == "none" ? [] : faults.split(separator: ",").compactMap { Fault(rawValue: String($0)) }
    }

    func validate() throws {
        guard (2...16).contains(processes) else { throw ValidationError("--processes must be between 2 and 16") }
        guard duration >= 1, duration <= 3600 else { throw ValidationError("--duration must be between 1 and 3600 seconds") }
        guard (0...1000).contains(holdMs) else { throw ValidationError("--hold-ms must be between 0 and 1000") }
        if faults != "none" {
            for kind in faults.split(separator: ",", omittingEmptySubsequences: false) where Fault(rawValue: String(kind)) == nil {
                throw ValidationError("unknown fault \"\(kind)\" in --faults: use kill, stop, partition, server-stop, server-restart or none")
            }
        }
        if serverCommand == nil, let fault = faultKinds.first(where: \.needsServerCommand) {
            throw ValidationError("--faults \(fault.rawValue) needs --server-command: the harness must run the server to stop or restart it")
        }
        if let serverCommand, serverCommand.allSatisfy(\.isWhitespace) {
            throw ValidationError("--server-command is empty")
        }
    }

    func run() async throws {
        let explicitURL = global.url != nil || !(Platform.environment["TOOZ_URL"] ?? "").isEmpty
        let resolvedURL = explicitURL ? global.resolvedURL() : nil
        var generator = SystemRandomNumberGenerator()
        let seed = self.seed ?? UInt64.random(in: 1...999_999, using: &generator)
        let settings = self
        let (directory, outcome) = try await ScratchRun.run(prefix: "tooz-torture-") { directory, registry in
            try await TortureRun(
                url: resolvedURL ?? "file://" + GlobalOptions.percentEncodePath(directory) + "/backend",
                shownURL: explicitURL ? nil : "file:// (a temporary directory)",
                directory: directory,
                memberSuffix: explicitURL ? ".\(Platform.processID)" : "",
                processes: settings.processes,
                duration: UInt64(settings.duration * 1e9),
                faults: settings.faultKinds,
                lock: settings.lock,
                seed: seed,
                holdMilliseconds: settings.holdMs,
                serverCommand: settings.serverCommand,
                keepHistory: settings.keepHistory,
                replay: settings.replayCommand(seed: seed, explicitURL: explicitURL),
                verbose: settings.global.verbose,
                json: settings.json,
                registry: registry
            ).run()
        }
        switch outcome {
        case .success(let report):
            if !report.violations.isEmpty { throw CLIFailure(.violation, nil) }
            if !report.problems.isEmpty { throw CLIFailure(.negative, nil) }
        case .failure(let error as Interrupted):
            Console.error("tooz torture: interrupted; workers stopped, \(directory) removed")
            throw error
        case .failure(let error): throw error
        }
    }

    private func replayCommand(seed: UInt64, explicitURL: Bool) -> String {
        var words = ["tooz", "torture"]
        if explicitURL { words.append("--url URL") }
        if serverCommand != nil { words.append("--server-command COMMAND") }
        words += [
            "--processes", String(processes), "--duration", String(duration), "--faults", faults, "--lock", lock,
            "--hold-ms", String(holdMs), "--seed", String(seed),
        ]
        return words.joined(separator: " ")
    }
}

/// A small, fast generator with a 64-bit seed (SplitMix64), so a fault schedule can be replayed.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
