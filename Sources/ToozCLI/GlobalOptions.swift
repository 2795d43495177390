import ArgumentParser
import Logging
import ToozBackends

/// The options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The backend URL (default: $TOOZ_URL, else file:// = your state dir).",
            valueName: "url"
        )
    )
    var url: String?

    @Option(help: ArgumentHelp("This member's id (default: <hostname>-<pid>).", valueName: "id"))
    var member: String?

    @Flag(name: .shortAndLong, help: "Log debug messages to stderr.")
    var verbose = false

    /// The URL to use: `--url`, else `TOOZ_URL`, else `file://`, which the file backend reads
    /// as the user's state directory.
    func resolvedURL() -> String {
        let environment = Platform.environment["TOOZ_URL"].flatMap { $0.isEmpty ? nil : $0 }
        return url ?? environment ?? "file://"
    }

    func resolvedMember() -> MemberID {
        MemberID(member ?? "\(Platform.hostName())-\(Platform.processID)")
    }

    /// Escapes the characters that would end a URL's path.
    static func percentEncodePath(_ path: String) -> String {
        var result = ""
        for character in path {
            switch character {
            case "%": result += "%25"
            case "?": result += "%3F"
            case "#": result += "%23"
            default: result.append(character)
            }
        }
        return result
    }

    /// A coordinator for this invocation. Invalid URLs and member ids fail here, before any I/O.
    func makeCoordinator(member: MemberID? = nil) throws -> Coordinator {
        let url = resolvedURL()
        return try Coordinator(url: url, member: member ?? resolvedMember(), logger: Logger(label: "tooz"))
    }

    /// Runs `body` with a running coordinator, then shuts it down (which releases what it
    /// still holds and leaves the groups it joined).
    func withCoordinator<Result: Sendable>(
        member: MemberID? = nil,
        _ body: @escaping @Sendable (Coordinator) async throws -> Result
    ) async throws -> Result {
        let coordinator = try makeCoordinator(member: member)
        return try await coordinator.withRunning { try await body(coordinator) }
    }
}

/// Commands that take ``GlobalOptions``, so `main` can read `--verbose` before anything logs.
protocol GlobalOptionsCommand: SendableMetatype {
    var global: GlobalOptions { get }
}

/// The most seconds a command-line option may ask for (about 31 years): more than any wait
/// means, and far inside what a `Duration` in milliseconds holds.
let longestCommandLineSeconds: Double = 1_000_000_000

/// Whether `seconds` is a duration the command line accepts: finite, 0 or more, at most
/// ``longestCommandLineSeconds``.
func isValidCommandLineDuration(_ seconds: Double) -> Bool {
    seconds.isFinite && seconds >= 0 && seconds <= longestCommandLineSeconds
}

/// Parses a number of seconds given on the command line (validated before, and clamped here
/// as well, so that no number can trap).
func duration(seconds: Double) -> Duration {
    let clamped = seconds.isFinite ? min(max(seconds, 0), longestCommandLineSeconds) : longestCommandLineSeconds
    return .milliseconds(Int64((clamped * 1000).rounded()))
}
