#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The shared resource of `tooz torture`: a counter in a file that honours fencing tokens, the
/// way a storage service should behave behind a lock (Kleppmann's fenced writes).
///
/// It remembers the highest token it has served (the bar) and refuses any read or write with a
/// lower token. Reads raise the bar too: once a newer holder has read the value, the write of an
/// older holder that was paused between its read and its write is refused, so a read-increment-
/// write can never lose an update, whatever the lock does.
///
/// The file is an append-only log of operations, one line each (``RegisterRecord``), the last
/// carrying the current state. Every operation takes an exclusive `flock(2)` on it, reads the
/// state from the tail, and appends one line with one `write(2)`: a worker killed at any moment
/// leaves either the whole line or none.
final class FencedRegister: Sendable {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIFailure(.software, "could not open the register \(path): \(Platform.errorDescription(errno))")
        }
    }

    deinit { close(fd) }

    /// Reads the value with `token`; `nil` when the register refused it.
    func read(token: UInt64, member: String) -> Int? {
        operate { bar, value in
            let at = Platform.monotonicNanoseconds()
            if token < bar {
                return (nil, RegisterRecord(operation: .refusedRead, token: token, bar: bar, value: value, member: member, at: at))
            }
            return (value, RegisterRecord(operation: .read, token: token, bar: token, value: value, member: member, at: at))
        }
    }

    /// Writes `value` with `token`; whether the register accepted it.
    func write(_ newValue: Int, token: UInt64, member: String) -> Bool {
        operate { bar, value in
            let at = Platform.monotonicNanoseconds()
            if token < bar {
                return (false, RegisterRecord(operation: .refusedWrite, token: token, bar: bar, value: value, member: member, at: at))
            }
            return (true, RegisterRecord(operation: .write, token: token, bar: token, value: newValue, member: member, at: at))
        }
    }

    private func operate<T>(_ body: (_ bar: UInt64, _ value: Int) -> (T, RegisterRecord)) -> T {
        while flock(fd, LOCK_EX) == -1 && errno == EINTR {}
        defer { _ = flock(fd, LOCK_UN) }
        let state = lastRecord()
        let (result, record) = body(state?.bar ?? 0, state?.value ?? 0)
        _ = Platform.writeAll(fd, Array((record.line + "\n").utf8))
        return result
    }

    /// The last complete record, read from the file's tail.
    private func lastRecord() -> RegisterRecord? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0 else { return nil }
        let size = Int(status.st_size)
        let length = min(size, 4096)
        var buffer = [UInt8](repeating: 0, count: length)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(size - length)) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        // Only lines that end with a newline are complete.
        let complete = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
        return complete.split(separator: "\n").last.flatMap { RegisterRecord(line: $0) }
    }
}
