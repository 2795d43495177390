#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One thing a demo worker did, as one line of the shared journal. Times are readings of the
/// host's monotonic clock in nanoseconds, comparable between the worker processes.
enum DemoEntry: Hashable, Sendable {
    case joined(member: String, pid: Int32, at: UInt64)
    case leadStart(member: String, token: UInt64, at: UInt64)
    case leadEnd(member: String, token: UInt64, at: UInt64)
    /// A hold of the demo lock: when it started and ended, and the counter value it read.
    case lock(member: String, token: UInt64, start: UInt64, end: UInt64, read: Int)
    case done(member: String, at: UInt64)
    case failed(member: String, message: String)

    var line: String {
        switch self {
        case .joined(let member, let pid, let at): "joined \(member) \(pid) \(at)"
        case .leadStart(let member, let token, let at): "lead-start \(member) \(token) \(at)"
        case .leadEnd(let member, let token, let at): "lead-end \(member) \(token) \(at)"
        case .lock(let member, let token, let start, let end, let read): "lock \(member) \(token) \(start) \(end) \(read)"
        case .done(let member, let at): "done \(member) \(at)"
        case .failed(let member, let message): "failed \(member) \(message)"
        }
    }

    /// Parses a line; `nil` for anything malformed (a worker killed halfway through a write).
    init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2 else { return nil }
        let member = String(fields[1])
        func number(_ index: Int) -> UInt64? { index < fields.count ? UInt64(fields[index]) : nil }
        switch fields[0] {
        case "joined":
            guard fields.count == 4, let pid = Int32(fields[2]), let at = number(3) else { return nil }
            self = .joined(member: member, pid: pid, at: at)
        case "lead-start":
            guard fields.count == 4, let token = number(2), let at = number(3) else { return nil }
            self = .leadStart(member: member, token: token, at: at)
        case "lead-end":
            guard fields.count == 4, let token = number(2), let at = number(3) else { return nil }
            self = .leadEnd(member: member, token: token, at: at)
        case "lock":
            guard fields.count == 6, let token = number(2), let start = number(3), let end = number(4),
                let read = Int(fields[5])
            else { return nil }
            self = .lock(member: member, token: token, start: start, end: end, read: read)
        case "done":
            guard fields.count == 3, let at = number(2) else { return nil }
            self = .done(member: member, at: at)
        case "failed":
            self = .failed(member: member, message: fields.dropFirst(2).joined(separator: " "))
        default:
            return nil
        }
    }

    static func parse(_ text: String) -> [DemoEntry] {
        text.split(separator: "\n").compactMap { DemoEntry(line: $0) }
    }
}

/// The journal the demo's workers append to. Each entry is one `write(2)` on an `O_APPEND`
/// descriptor, so lines from concurrent processes never interleave.
final class DemoJournal: Sendable {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIFailure(.software, "could not open the journal \(path): \(Platform.errorDescription(errno))")
        }
    }

    deinit { close(fd) }

    func record(_ entry: DemoEntry) {
        Platform.writeAll(fd, Array((entry.line + "\n").utf8))
    }
}
