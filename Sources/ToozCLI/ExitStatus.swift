import ToozBackends

/// The exit statuses of `tooz`, documented in `tooz --help`. Numbers above 63 follow
/// sysexits(3), so scripts that already know EX_TEMPFAIL or EX_CONFIG read them right.
struct ExitStatus: RawRepresentable, Hashable, Sendable {
    var rawValue: Int32

    init(rawValue: Int32) { self.rawValue = rawValue }

    static let success = ExitStatus(rawValue: 0)
    /// A negative answer: `leader` found nobody leading, `demo` found a failed check.
    static let negative = ExitStatus(rawValue: 1)
    /// The backend refused the operation because of the state it is in.
    static let refused = ExitStatus(rawValue: 2)
    /// The backend does not implement the feature.
    static let unsupported = ExitStatus(rawValue: 3)
    /// `torture` found a violation: a lost or duplicated increment, a token going backwards, an
    /// accepted stale write, or holders overlapping without a pause to explain it.
    static let violation = ExitStatus(rawValue: 4)
    /// EX_USAGE: a bad command line.
    static let usage = ExitStatus(rawValue: 64)
    /// EX_DATAERR: a bad name, bad capabilities JSON, or data that cannot be encoded.
    static let dataError = ExitStatus(rawValue: 65)
    /// EX_UNAVAILABLE: the backend could not be reached in time.
    static let unavailable = ExitStatus(rawValue: 69)
    /// EX_SOFTWARE: the backend failed, or something unexpected went wrong.
    static let software = ExitStatus(rawValue: 70)
    /// EX_TEMPFAIL: the lock (or leadership) stayed busy for the whole wait.
    static let lockBusy = ExitStatus(rawValue: 75)
    /// The lock or leadership was lost while the command ran; the command was terminated.
    static let leaseLost = ExitStatus(rawValue: 76)
    /// EX_CONFIG: a malformed backend URL, unknown scheme or option, or bad option value.
    static let configuration = ExitStatus(rawValue: 78)
    /// Internal, never the status of `tooz` itself: the guard between `lock`/`elect` and the
    /// command found tooz gone before the command started, and did not start it.
    static let guardOrphaned = ExitStatus(rawValue: 125)
    /// The command could not be executed (shell convention).
    static let cannotExecute = ExitStatus(rawValue: 126)
    /// The command was not found (shell convention).
    static let commandNotFound = ExitStatus(rawValue: 127)

    /// The status for a library error.
    static func forError(_ error: ToozError) -> ExitStatus {
        switch error.code {
        case .groupNotCreated, .groupAlreadyExists, .groupNotEmpty, .memberAlreadyJoined, .memberNotJoined,
            .lockNotHeld, .lockAlreadyHeld:
            .refused
        case .notImplemented: .unsupported
        case .invalidArgument, .serializationFailed: .dataError
        case .connectionFailed, .timedOut, .notRunning: .unavailable
        case .lockBusy: .lockBusy
        case .leaseLost: .leaseLost
        case .invalidConfiguration: .configuration
        default: .software
        }
    }

    /// The table printed by `tooz --help`.
    static let helpText = """
        The backend URL comes from --url, else the TOOZ_URL environment variable, else \
        file://, which stands for a directory in your state dir ($XDG_STATE_HOME/tooz or \
        ~/.local/state/tooz).

        Exit status:
          0      success
          1      a negative answer: `leader` found nobody leading, a `demo`
                 check failed, or a `torture` run proved nothing
          2      refused by the backend's state: the group does not exist,
                 exists already or is not empty; the member has not joined,
                 or has joined already
          3      the backend does not implement the feature
          4      `torture` found a violation of the lock's guarantees
          64     bad command line
          65     bad data: an invalid name, invalid --capabilities JSON,
                 capabilities too big
          69     the backend is unavailable: connection failed or timed out
          70     the backend failed, or an internal error
          75     EX_TEMPFAIL: the lock stayed busy for the whole --wait
          76     the lock or leadership was lost while the command ran (the
                 command was terminated)
          78     EX_CONFIG: a malformed URL, an unknown scheme or option, or a
                 bad option value
          126    the command could not be executed
          127    the command was not found
          128+N  interrupted by signal N (130: Ctrl-C), or the command was
                 killed by signal N
        `lock` and `elect` otherwise exit with the status of the command they ran.

        Errors are one line on stderr: `tooz: <message>`. Passwords in URLs are never printed.
        """
}

/// A failure of the tool itself: the message is printed as `tooz: <message>` (when there is
/// one) and the process exits with `status`.
struct CLIFailure: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String?

    init(_ status: ExitStatus, _ message: String?) {
        self.status = status
        self.message = message
    }

    /// Exits quietly with `status`: used to pass a command's status on.
    static func exit(_ status: Int32) -> CLIFailure {
        CLIFailure(ExitStatus(rawValue: status), nil)
    }

    var description: String { message ?? "exit status \(status.rawValue)" }
}

/// A signal ended the command; the process exits with 128 + the signal's number.
struct Interrupted: Error, CustomStringConvertible {
    var signal: Int32
    var description: String { "interrupted by signal \(signal)" }
}
