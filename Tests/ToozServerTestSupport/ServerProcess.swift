#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What the tests' throwaway servers (redis-server, sentinels, ZooKeeper JVMs) share: spawning a
/// server process in the foreground, reaping it, listing its pid for scripts/test, free loopback
/// ports and short temporary directories.
///
/// When `TOOZ_TEST_TMP` is set (scripts/test), each running server's pid is listed as
/// `$TOOZ_TEST_TMP/test-servers/<pid>.pid`, so that a crashed test run leaves nothing behind:
/// scripts/test stops whatever is still listed, by pid.
package enum ServerProcess {
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }

    /// Stops `pid` with SIGSTOP and waits until every one of its threads is stopped, so that
    /// nothing sent afterwards can still be answered: `kill` returns before a busy process's
    /// threads have all reached the stop. Gives up after 10 s (then it is stopped or gone soon).
    package static func freeze(_ pid: pid_t) {
        kill(pid, SIGSTOP)
        for _ in 0..<10_000 {
            if allThreadsStopped(pid) { return }
            usleep(1_000)
        }
    }

    /// Whether every thread of `pid` is in state `T` (stopped) or gone, from /proc.
    private static func allThreadsStopped(_ pid: pid_t) -> Bool {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return true }
        for thread in threads {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // The state follows the command name, which is in parentheses and may hold spaces.
            let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
            if state != "T" && state != "t" { return false }
        }
        return true
    }

    /// Starts `arguments` (an absolute path first) with stdin from /dev/null and stdout and
    /// stderr appended to `output`, with default signal handling whatever the test runner set,
    /// and lists its pid.
    package static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test runner may ignore or block signals; the server must get SIGTERM normally.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw Failure("\(arguments[0]): \(String(cString: strerror(result)))")
        }
        recordPID(pid)
        return pid
    }

    /// Reaps `pid` if it has ended (waiting for it when `blocking`); `true` once it is gone,
    /// and then it is no longer listed.
    package static func reap(_ pid: pid_t, blocking: Bool) -> Bool {
        var status: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
        } while result == -1 && errno == EINTR
        guard result == pid || (result == -1 && errno == ECHILD) else { return false }
        forgetPID(pid)
        return true
    }

    /// Runs a helper program (openssl) to completion and returns its wait status.
    package static func runToCompletion(_ arguments: [String], output: String) throws -> Int32 {
        let pid = try spawn(arguments, output: output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        forgetPID(pid)
        return status
    }

    /// SIGTERM (after a SIGCONT: a paused process only acts on SIGTERM once it runs again),
    /// then SIGKILL after `grace`; returns once the process is reaped.
    package static func stop(_ pid: pid_t, grace: Duration = .seconds(5)) async {
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if reap(pid, blocking: false) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill(pid, SIGKILL)
        _ = reap(pid, blocking: true)
    }

    private static var pidDirectory: String? {
        ProcessInfo.processInfo.environment["TOOZ_TEST_TMP"].map { $0 + "/test-servers" }
    }

    private static func recordPID(_ pid: pid_t) {
        guard let directory = pidDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(directory)/\(pid).pid", contents: Data("\(pid)\n".utf8))
    }

    private static func forgetPID(_ pid: pid_t) {
        guard let directory = pidDirectory else { return }
        try? FileManager.default.removeItem(atPath: "\(directory)/\(pid).pid")
    }

    /// The first executable called `name` on PATH.
    package static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// A new directory `<TMPDIR>/<prefix>.XXXXXX`, short enough for a unix socket path inside it
    /// (at most 107 bytes): a long TMPDIR is replaced by /tmp.
    package static func makeTemporaryDirectory(prefix: String) throws -> String {
        var base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        if base.utf8.count > 60 { base = "/tmp" }
        var template = Array((base + "/\(prefix).XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    package static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A loopback port nobody uses right now, below the kernel's ephemeral range.
    ///
    /// A port the kernel hands out for `bind(0)` comes from the ephemeral range, from which it
    /// also picks the local port of every outgoing connection: on a busy test run, one of them
    /// took a ZooKeeper election port between our pick and the server's bind. Below that range
    /// only servers that bind on purpose compete, and they check as we do.
    /// Whether something accepts a TCP connection on 127.0.0.1:`port`.
    package static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    package static func freePort() throws -> Int {
        let lowestEphemeral = ephemeralRangeStart()
        if lowestEphemeral > 12_000 {
            for _ in 0..<200 {
                let candidate = Int.random(in: 10_000..<lowestEphemeral)
                if try bindable(candidate) { return candidate }
            }
        }
        return try bindLoopback(port: 0)
    }

    /// The first port of `net.ipv4.ip_local_port_range` (32768 when it cannot be read).
    private static func ephemeralRangeStart() -> Int {
        guard let range = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
            let first = range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first,
            let value = Int(first)
        else { return 32_768 }
        return value
    }

    private static func bindable(_ port: Int) throws -> Bool {
        do {
            _ = try bindLoopback(port: port)
            return true
        } catch let failure as Failure where failure.description.hasPrefix("bind:") {
            return false
        }
    }

    /// Binds a TCP socket on 127.0.0.1:`port` (0: any), closes it, and returns the port.
    private static func bindLoopback(port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure("bind: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
