import ArgumentParser
import Logging
import ToozBackends

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tooz`: groups, leader election and locks from the shell, a demo and a benchmark.
@main
struct ToozCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tooz",
        abstract: "Coordinate processes: locks, leader election and group membership on any tooz backend.",
        discussion: ExitStatus.helpText,
        version: "0.1.0",
        subcommands: [
            DemoCommand.self, TortureCommand.self, LockCommand.self, ElectCommand.self, GroupCommand.self, WatchCommand.self,
            LeaderCommand.self, BenchCommand.self, DemoWorkerCommand.self, BenchLeaderCommand.self, GuardCommand.self,
            TortureWorkerCommand.self,
            TortureCheckCommand.self,
        ]
    )

    /// Parses, sets up logging (only the executable bootstraps it), runs, and turns every
    /// failure into one line on stderr and a documented exit status.
    nonisolated static func main() async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            exit(withError: error)
        }
        let verbose = (command as? any GlobalOptionsCommand)?.global.verbose ?? false
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            finish(with: error)
        }
        terminate(ExitStatus.success.rawValue)
    }

    private static func finish(with error: any Error) -> Never {
        switch error {
        case let error as ToozError:
            Console.error("tooz: \(describe(error))")
            terminate(ExitStatus.forError(error).rawValue)
        case let failure as CLIFailure:
            if let message = failure.message { Console.error("tooz: \(message)") }
            terminate(failure.status.rawValue)
        case let interrupted as Interrupted:
            terminate(128 + interrupted.signal)
        case is CancellationError:
            terminate(128 + SIGINT)
        case _ where String(reflecting: type(of: error)).hasPrefix("ArgumentParser."):
            // Help, version, usage and validation errors, printed the way ArgumentParser does.
            exit(withError: error)
        default:
            Console.error("tooz: \(error)")
            terminate(ExitStatus.software.rawValue)
        }
    }

    /// The error's message, with its cause when that adds something.
    static func describe(_ error: ToozError) -> String {
        guard let underlying = error.underlying else { return error.message }
        if let cause = underlying as? ToozError { return "\(error.message): \(describe(cause))" }
        return "\(error.message): \(underlying)"
    }

    private static func terminate(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #elseif canImport(Musl)
        Musl.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }
}
