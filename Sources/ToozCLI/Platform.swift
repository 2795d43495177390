#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Thin wrappers over the few POSIX calls the tool needs.
enum Platform {
    /// The system-wide monotonic clock in nanoseconds: comparable between processes on one host,
    /// which the demo relies on to order what its workers journal.
    static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static var processID: Int32 { getpid() }

    static var parentProcessID: Int32 { getppid() }

    static func send(_ signal: Int32, to pid: pid_t) {
        _ = kill(pid, signal)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// This executable, for spawning copies of ourselves (demo workers, the bench's leader).
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 {
            return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return CommandLine.arguments[0]
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func errorDescription(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Creates a fresh private directory under the system's temp dir.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let base = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/" + prefix + "XXXXXX").utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CLIFailure(.software, "could not create a temporary directory in \(base): \(errorDescription(errno))")
        }
        return String(cString: result)
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Copies the regular files of `source` into `destination`, made if missing; files there
    /// with the same names are replaced.
    static func copyFiles(from source: String, to destination: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: source) {
            let target = destination + "/" + name
            if manager.fileExists(atPath: target) { try manager.removeItem(atPath: target) }
            try manager.copyItem(atPath: source + "/" + name, toPath: target)
        }
    }

    /// Every process descended from `root` (children, their children, …), from `/proc`; empty
    /// where there is no `/proc`.
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), let stat = readFile("/proc/\(name)/stat"),
                // The command name is in parentheses and may contain anything: read after the last ')'.
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { continue }
            children[parent, default: []].append(pid)
        }
        var found: [pid_t] = []
        var queue = children[root] ?? []
        while let pid = queue.popLast() {
            found.append(pid)
            queue += children[pid] ?? []
        }
        return found
    }

    /// Whether a process with this id exists (a zombie counts).
    static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func readFile(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Replaces the file's content in one write. The demo's counter is deliberately read and
    /// written without any atomicity of its own: only the lock protects it.
    static func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIFailure(.software, "could not open \(path): \(errorDescription(errno))") }
        defer { close(fd) }
        guard writeAll(fd, Array(text.utf8)) else {
            throw CLIFailure(.software, "could not write \(path): \(errorDescription(errno))")
        }
    }

    /// Writes every byte, retrying short writes and interruptions.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Unbuffered, line-at-a-time output, so lines from `watch` reach a pipe at once and stderr
/// messages never interleave with stdout halfway through a line.
enum Console {
    static func out(_ line: String) {
        Platform.writeAll(1, Array((line + "\n").utf8))
    }

    static func error(_ line: String) {
        Platform.writeAll(2, Array((line + "\n").utf8))
    }
}
