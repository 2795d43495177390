/// What `tooz torture` writes down while it runs: the workers' and the harness's journal
/// (``TortureEntry``), and the fenced register's own log (``RegisterRecord``). Times are readings
/// of the host's monotonic clock in nanoseconds, comparable between processes on one host.
enum TortureEntry: Hashable, Sendable {
    /// How a hold of the lock ended for the register.
    enum Outcome: String, Sendable {
        /// The read and the write were both accepted: one increment.
        case accepted
        /// The register refused the read: a later token had already used it.
        case refusedRead = "refused-read"
        /// The register refused the write: a later token had read or written it since our read.
        case refusedWrite = "refused-write"
    }

    /// One hold of the lock, journaled by the holder just before it released it. `read` and
    /// `wrote` are -1 when the register refused that step.
    case hold(member: String, token: UInt64, start: UInt64, end: UInt64, read: Int, wrote: Int, outcome: Outcome)
    /// `withLock` reported the lease lost (the body was cancelled).
    case lost(member: String, at: UInt64)
    /// A worker's operation failed (and it went on).
    case error(member: String, message: String)
    /// A term of leadership of the workers' group began (journaled once the campaign was won).
    case leadStart(member: String, token: UInt64, at: UInt64)
    /// A term ended: the leader stood down, or its body was cancelled (`lost`).
    case leadEnd(member: String, token: UInt64, at: UInt64, lost: Bool)
    /// The harness started a worker.
    case spawn(member: String, pid: Int32, at: UInt64)
    /// The harness sent SIGKILL; `at` is read just before sending it.
    case kill(member: String, pid: Int32, at: UInt64)
    /// The harness sent SIGSTOP (`at` read just before) meaning to send SIGCONT after `planned` ns.
    case stop(member: String, pid: Int32, at: UInt64, planned: UInt64)
    /// The harness sent SIGCONT; `at` is read just after sending it.
    case cont(member: String, pid: Int32, at: UInt64)
    /// A worker ended on its own (not killed by the harness).
    case exited(member: String, status: String, at: UInt64)
    /// The harness sent SIGSTOP to the server's process group, meaning to continue it after `planned` ns.
    case serverStop(at: UInt64, planned: UInt64)
    /// The harness sent SIGCONT to the server's process group; `at` is read just after.
    case serverCont(at: UInt64)
    /// The harness SIGKILLed the server's process group (`at` read just before) and started it again.
    case serverKill(at: UInt64)
    /// The server answered again after a restart (the harness's probe completed a read).
    case serverReady(at: UInt64)
    /// The harness cut a worker off the server (its proxy stopped forwarding) for `planned` ns.
    case partition(member: String, at: UInt64, planned: UInt64)
    /// The harness let a partitioned worker's traffic through again; `at` is read just after.
    case heal(member: String, at: UInt64)
    /// The harness's probe first found a killed worker absent from the group's members.
    case gone(member: String, at: UInt64)
    /// A killed worker was still listed among the members when the harness gave up looking.
    case notGone(member: String, at: UInt64)
    /// At the end, the membership an event stream had followed from its snapshot differed from
    /// a fresh read of the members (`streamed` and `read`, comma-separated member ids).
    case eventsDiffer(streamed: String, read: String, at: UInt64)

    var line: String {
        switch self {
        case .hold(let member, let token, let start, let end, let read, let wrote, let outcome):
            "hold \(member) \(token) \(start) \(end) \(read) \(wrote) \(outcome.rawValue)"
        case .lost(let member, let at): "lost \(member) \(at)"
        case .error(let member, let message): "error \(member) \(message.split(separator: "\n").joined(separator: " "))"
        case .leadStart(let member, let token, let at): "lead-start \(member) \(token) \(at)"
        case .leadEnd(let member, let token, let at, let lost): "lead-end \(member) \(token) \(at) \(lost ? "lost" : "stood-down")"
        case .spawn(let member, let pid, let at): "spawn \(member) \(pid) \(at)"
        case .kill(let member, let pid, let at): "kill \(member) \(pid) \(at)"
        case .stop(let member, let pid, let at, let planned): "stop \(member) \(pid) \(at) \(planned)"
        case .cont(let member, let pid, let at): "cont \(member) \(pid) \(at)"
        case .exited(let member, let status, let at): "exited \(member) \(at) \(status)"
        case .serverStop(let at, let planned): "server-stop server \(at) \(planned)"
        case .serverCont(let at): "server-cont server \(at)"
        case .serverKill(let at): "server-kill server \(at)"
        case .serverReady(let at): "server-ready server \(at)"
        case .partition(let member, let at, let planned): "partition \(member) \(at) \(planned)"
        case .heal(let member, let at): "heal \(member) \(at)"
        case .gone(let member, let at): "gone \(member) \(at)"
        case .notGone(let member, let at): "not-gone \(member) \(at)"
        case .eventsDiffer(let streamed, let read, let at): "events-differ - \(at) [\(streamed)] [\(read)]"
        }
    }

    /// Parses a line; `nil` for anything malformed (a process killed halfway through a write).
    init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2 else { return nil }
        let member = String(fields[1])
        func number(_ index: Int) -> UInt64? { index < fields.count ? UInt64(fields[index]) : nil }
        func pid() -> Int32? { fields.count > 2 ? Int32(fields[2]) : nil }
        switch fields[0] {
        case "hold":
            guard fields.count == 8, let token = number(2), let start = number(3), let end = number(4),
                let read = Int(fields[5]), let wrote = Int(fields[6]), let outcome = Outcome(rawValue: String(fields[7]))
            else { return nil }
            self = .hold(member: member, token: token, start: start, end: end, read: read, wrote: wrote, outcome: outcome)
        case "lost":
            guard fields.count == 3, let at = number(2) else { return nil }
            self = .lost(member: member, at: at)
        case "error":
            self = .error(member: member, message: fields.dropFirst(2).joined(separator: " "))
        case "lead-start":
            guard fields.count == 4, let token = number(2), let at = number(3) else { return nil }
            self = .leadStart(member: member, token: token, at: at)
        case "lead-end":
            guard fields.count == 5, let token = number(2), let at = number(3) else { return nil }
            self = .leadEnd(member: member, token: token, at: at, lost: fields[4] == "lost")
        case "spawn", "kill", "cont":
            guard fields.count == 4, let pid = pid(), let at = number(3) else { return nil }
            switch fields[0] {
            case "spawn": self = .spawn(member: member, pid: pid, at: at)
            case "kill": self = .kill(member: member, pid: pid, at: at)
            default: self = .cont(member: member, pid: pid, at: at)
            }
        case "stop":
            guard fields.count == 5, let pid = pid(), let at = number(3), let planned = number(4) else { return nil }
            self = .stop(member: member, pid: pid, at: at, planned: planned)
        case "exited":
            guard fields.count >= 3, let at = number(2) else { return nil }
            self = .exited(member: member, status: fields.dropFirst(3).joined(separator: " "), at: at)
        case "server-stop", "partition":
            guard fields.count == 4, let at = number(2), let planned = number(3) else { return nil }
            self = fields[0] == "partition" ? .partition(member: member, at: at, planned: planned) : .serverStop(at: at, planned: planned)
        case "server-cont", "server-kill", "server-ready", "heal", "gone", "not-gone":
            guard fields.count == 3, let at = number(2) else { return nil }
            switch fields[0] {
            case "server-cont": self = .serverCont(at: at)
            case "server-kill": self = .serverKill(at: at)
            case "server-ready": self = .serverReady(at: at)
            case "heal": self = .heal(member: member, at: at)
            case "gone": self = .gone(member: member, at: at)
            default: self = .notGone(member: member, at: at)
            }
        case "events-differ":
            guard fields.count == 5, let at = number(2) else { return nil }
            func list(_ field: Substring) -> String { String(field.dropFirst().dropLast()) }
            self = .eventsDiffer(streamed: list(fields[3]), read: list(fields[4]), at: at)
        default:
            return nil
        }
    }

    static func parse(_ text: String) -> [TortureEntry] {
        text.split(separator: "\n").compactMap { TortureEntry(line: $0) }
    }
}

/// One operation on the fenced register, as the register logged it (in the order it served
/// them), with the register's state after it: `bar` is the highest token it has served, `value`
/// the value read, written, or (for a refusal) left in place.
struct RegisterRecord: Hashable, Sendable {
    enum Operation: String, Sendable {
        case read
        case write
        case refusedRead = "refused-read"
        case refusedWrite = "refused-write"

        var isRefusal: Bool { self == .refusedRead || self == .refusedWrite }
    }

    var operation: Operation
    var token: UInt64
    var bar: UInt64
    var value: Int
    var member: String
    var at: UInt64

    var line: String { "\(operation.rawValue) \(token) \(bar) \(value) \(member) \(at)" }

    init(operation: Operation, token: UInt64, bar: UInt64, value: Int, member: String, at: UInt64) {
        (self.operation, self.token, self.bar, self.value, self.member, self.at) = (operation, token, bar, value, member, at)
    }

    init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 6, let operation = Operation(rawValue: String(fields[0])), let token = UInt64(fields[1]),
            let bar = UInt64(fields[2]), let value = Int(fields[3]), let at = UInt64(fields[5])
        else { return nil }
        self.init(operation: operation, token: token, bar: bar, value: value, member: String(fields[4]), at: at)
    }

    static func parse(_ text: String) -> [RegisterRecord] {
        text.split(separator: "\n").compactMap { RegisterRecord(line: $0) }
    }
}
