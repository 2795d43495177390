import ArgumentParser
import ToozBackends

/// `tooz lock NAME -- CMD…`: flock(1) for a distributed lock.
struct LockCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Run a command while holding a lock (like flock(1)).",
        discussion: """
            The lock is acquired before CMD starts and released after it ends. CMD runs with \
            TOOZ_FENCING_TOKEN set to the lock's fencing token (it grows with every acquisition; \
            pass it to the resource you protect so that it can refuse a stale holder), and with \
            TOOZ_LOCK and TOOZ_MEMBER.

            If the lock's lease is lost while CMD runs, CMD's process group (CMD and what it \
            started) gets SIGTERM, then SIGKILL after --grace seconds. SIGTERM and SIGHUP sent \
            to tooz are passed on to that group; a Ctrl-C in a terminal reaches CMD directly (a \
            SIGINT sent to tooz alone is passed on after 0.2 s). If tooz dies, even of SIGKILL, \
            the group gets SIGKILL at once (Linux); what CMD leaves running when it ends gets \
            SIGTERM, then SIGKILL after --grace, before the lock is released.

            Exit status: CMD's own status (128+N when a signal N killed it); 75 (EX_TEMPFAIL) \
            when the lock stayed busy for the whole --wait, with one line on stderr; 76 when the \
            lease was lost and CMD was terminated; 126/127 when CMD cannot be run or is not \
            found; 130 when interrupted while waiting; other statuses as in `tooz --help`.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The lock's name.")
    var name: String

    @Option(help: ArgumentHelp("Seconds to wait for a busy lock; 0 tries once (default: wait forever).", valueName: "seconds"))
    var wait: Double?

    @OptionGroup var supervised: SupervisedCommandOptions

    func validate() throws {
        if let wait, !isValidCommandLineDuration(wait) {
            throw ValidationError("--wait must be a number of seconds from 0 to \(Int(longestCommandLineSeconds))")
        }
        try supervised.validate(usage: "tooz lock NAME -- CMD [ARG...]")
    }

    func run() async throws {
        let watcher = SignalWatcher()
        defer { watcher.stop() }
        let lockName = LockName(name)
        let waitMode: LockWait =
            switch wait {
            case nil: .forever
            case 0?: .never
            case let seconds?: .upTo(duration(seconds: seconds))
            }
        let leased = supervised.leasedCommand
        let name = self.name
        let status: Int32
        do {
            status = try await global.withCoordinator { coordinator in
                try await leased.supervise(signals: watcher) {
                    try await coordinator.withLock(named: lockName, wait: waitMode) { lease in
                        try await leased.run(environment: [
                            "TOOZ_FENCING_TOKEN": String(lease.fencingToken.value),
                            "TOOZ_LOCK": name,
                            "TOOZ_MEMBER": coordinator.member.rawValue,
                        ])
                    }
                }
            }
        } catch let error as ToozError where error.code == .leaseLost {
            throw CLIFailure(.leaseLost, "\(error.message); \(supervised.command[0]) was terminated")
        }
        if status != 0 { throw CLIFailure.exit(status) }
    }
}
