#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CToozPlatform
import Dispatch
import Foundation
import Synchronization

/// How a child process ended.
enum ChildTermination: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    /// The status a shell would report: the exit code, or 128 + the signal's number.
    var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signalled(let number): 128 + number
        }
    }

    var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signalled(let number): "killed by signal \(number)"
        }
    }
}

/// A process we spawned and must reap.
///
/// Spawned with `posix_spawnp`, with the usual termination signals reset to their default
/// action and an empty signal mask, whatever this process does with them. Waiting polls
/// `waitpid(WNOHANG)` with short sleeps, so no thread of the cooperative pool ever blocks.
final class ChildProcess: Sendable {
    enum Output: Sendable {
        case inherit
        case null
        /// Appends to the file, creating it.
        case file(String)
    }

    let pid: pid_t
    let arguments: [String]
    /// The process leads a process group of its own: signals go to the whole group, and when
    /// the process ends, whatever is left of its group gets SIGKILL before it is reaped.
    let leadsGroup: Bool
    private let reaped = Mutex<ChildTermination?>(nil)

    private init(pid: pid_t, arguments: [String], leadsGroup: Bool) {
        self.pid = pid
        self.arguments = arguments
        self.leadsGroup = leadsGroup
    }

    /// Starts `arguments[0]`, looked up in `PATH`, with the current environment plus `environment`.
    ///
    /// With `newProcessGroup`, the child leads a new process group (see ``leadsGroup``); with
    /// `closeOtherDescriptors`, it inherits no descriptor but its standard input and outputs.
    ///
    /// - Throws: ``CLIFailure`` with 127 when the program does not exist, 126 when it cannot be run.
    static func spawn(
        _ arguments: [String],
        environment: [String: String] = [:],
        stdin: Output = .inherit,
        stdout: Output = .inherit,
        stderr: Output = .inherit,
        newProcessGroup: Bool = false,
        closeOtherDescriptors: Bool = false
    ) throws -> ChildProcess {
        precondition(!arguments.isEmpty, "spawn needs a program")
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        for (fd, output) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch output {
            case .inherit: break
            case .null:
                let flags = fd == 0 ? O_RDONLY : O_WRONLY
                posix_spawn_file_actions_addopen(&fileActions, fd, "/dev/null", flags, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&fileActions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            }
        }

        // Sockets that SwiftNIO opens lack close-on-exec: a child would keep a listener or a
        // connection of ours open after we close it (a proxy's close never reaching its peer).
        if closeOtherDescriptors {
            let result = tooz_spawn_close_from(&fileActions, 3)
            if result != 0 {
                throw CLIFailure(.software, "cannot start \(arguments[0]) without our descriptors: \(Platform.errorDescription(result))")
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD] {
            sigaddset(&defaults, number)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var merged = Platform.environment
        for (key, value) in environment { merged[key] = value }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, arguments[0], &fileActions, &attributes, argv, envp)
        switch result {
        case 0:
            return ChildProcess(pid: pid, arguments: arguments, leadsGroup: newProcessGroup)
        case ENOENT:
            throw CLIFailure(.commandNotFound, "\(arguments[0]): command not found")
        default:
            throw CLIFailure(.cannotExecute, "\(arguments[0]): \(Platform.errorDescription(result))")
        }
    }

    /// How the process ended, if it has; reaps it when it has just ended.
    ///
    /// A group leader that has ended stays a zombie until its group's last members got SIGKILL:
    /// its unreaped pid keeps the group's id from being reused, so the signal cannot reach
    /// anyone else's group.
    func poll() -> ChildTermination? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            if leadsGroup {
                var info = siginfo_t()
                while true {
                    let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
                    if result == -1, errno == EINTR { continue }
                    if result == 0, info.si_signo == 0 { return nil }
                    if result == 0 { Platform.send(SIGKILL, to: -pid) }
                    break
                }
            }
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid {
                    let termination = ChildProcess.decode(status)
                    reaped = termination
                    return termination
                }
                if result == -1, errno == EINTR { continue }
                if result == -1 {
                    // Not our child any more (reaped elsewhere): nothing left to wait for.
                    reaped = .exited(-1)
                    return reaped
                }
                return nil
            }
        }
    }

    /// Sends `number` unless the process has been reaped (its pid may belong to someone else by
    /// then); to the whole process group when the process leads one.
    func signal(_ number: Int32) {
        reaped.withLock { reaped in
            if reaped == nil { Platform.send(number, to: leadsGroup ? -pid : pid) }
        }
    }

    var isRunning: Bool { poll() == nil }

    /// Waits for the process to end. Cancellation throws `CancellationError` and leaves the
    /// process running: callers decide between ``terminate(grace:)`` and ``kill()``.
    func wait() async throws -> ChildTermination {
        var interval = Duration.milliseconds(1)
        while true {
            if let termination = poll() { return termination }
            try await Task.sleep(for: interval)
            interval = min(interval * 2, .milliseconds(20))
        }
    }

    /// SIGTERM, then SIGKILL after `grace` (to the whole group when the process leads one);
    /// returns once the process is reaped. Runs to the end even in a cancelled task, because a
    /// child must never be left behind.
    @discardableResult
    func terminate(grace: Duration) async -> ChildTermination {
        if let termination = poll() { return termination }
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let termination = poll() { return termination }
            await ChildProcess.uncancellableSleep(.milliseconds(10))
        }
        return await kill()
    }

    /// SIGKILL; returns once the process is reaped, even in a cancelled task.
    @discardableResult
    func kill() async -> ChildTermination {
        signal(SIGKILL)
        while true {
            if let termination = poll() { return termination }
            await ChildProcess.uncancellableSleep(.milliseconds(2))
        }
    }

    /// A sleep that a cancelled task can still take: clean-up paths run in cancelled tasks, and
    /// `Task.sleep` would return at once there and turn a wait into a busy loop.
    static func uncancellableSleep(_ duration: Duration) async {
        let nanoseconds = Int(duration.components.seconds) * 1_000_000_000
            + Int(duration.components.attoseconds / 1_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                continuation.resume()
            }
        }
    }

    /// WIFEXITED/WEXITSTATUS/WTERMSIG, which are macros Swift cannot import.
    static func decode(_ status: Int32) -> ChildTermination {
        let signalNumber = status & 0x7f
        if signalNumber == 0 { return .exited((status >> 8) & 0xff) }
        return .signalled(signalNumber)
    }
}

/// The children a command has started, so every exit path can kill and reap them.
final class ChildRegistry: Sendable {
    private let children = Mutex<[ChildProcess]>([])

    func add(_ child: ChildProcess) {
        children.withLock { $0.append(child) }
    }

    /// Kills every child still running and reaps them all.
    func killAll() async {
        let all = children.withLock { children in
            defer { children.removeAll() }
            return children
        }
        for child in all { await child.kill() }
    }
}
