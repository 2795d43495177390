import ArgumentParser

/// `tooz torture-check` (hidden): runs the checker again on a history kept by
/// `tooz torture --keep-history DIR`, to study a verdict without running the processes again.
struct TortureCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture-check",
        abstract: "Check a history kept by `tooz torture --keep-history` again (internal).",
        shouldDisplay: false
    )

    @Argument(help: "The directory given to --keep-history.")
    var history: String

    func run() throws {
        guard let journal = Platform.readFile(history + "/journal.log"), let register = Platform.readFile(history + "/register.log"),
            let contextLine = Platform.readFile(history + "/context")
        else {
            throw CLIFailure(.usage, "\(history) holds no torture history (journal.log, register.log and context)")
        }
        guard let context = TortureChecker.Context(line: Substring(contextLine.trimmingPrefix(while: \.isWhitespace)).split(separator: "\n").first ?? "")
        else {
            throw CLIFailure(.dataError, "\(history)/context is malformed")
        }
        let report = TortureChecker.check(journal: TortureEntry.parse(journal), register: RegisterRecord.parse(register), context: context)
        for violation in report.violations { Console.out("✗ \(violation)") }
        for problem in report.problems { Console.out("! \(problem)") }
        Console.out(report.violations.isEmpty ? "✓ no violation" : "✗ \(report.violations.count) violation(s)")
        if !report.violations.isEmpty { throw CLIFailure(.violation, nil) }
    }
}
