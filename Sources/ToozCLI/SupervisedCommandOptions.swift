import ArgumentParser

/// The command that `tooz lock` and `tooz elect` run under a lease, and how it is stopped.
struct SupervisedCommandOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Seconds between SIGTERM and SIGKILL when CMD must stop.", valueName: "seconds"))
    var grace: Double = 5

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run, after --.", valueName: "CMD"))
    var command: [String] = []

    /// Checks the options; `usage` is the calling command's synopsis, for the error message.
    func validate(usage: String) throws {
        if command.isEmpty { throw ValidationError("missing the command: \(usage)") }
        if !isValidCommandLineDuration(grace) {
            throw ValidationError("--grace must be a number of seconds from 0 to \(Int(longestCommandLineSeconds))")
        }
    }

    /// The command, ready to be supervised.
    var leasedCommand: LeasedCommand { LeasedCommand(command: command, grace: duration(seconds: grace), guardExecutable: Platform.executablePath()) }
}
