#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The backend server of a `tooz torture` run, when the harness owns it (`--server-command`):
/// a shell command started in a process group of its own, so that a SIGSTOP, SIGCONT or SIGKILL
/// reaches every process of the server (PostgreSQL's backends, a wrapper script's child).
///
/// A restart is SIGKILL of the group and the same command again: whatever the command keeps on
/// disk (its data directory) survives, the rest is lost, as in a crash.
final class TortureServer: Sendable {
    let command: String
    private let logPath: String
    private let registry: ChildRegistry
    private let current = Mutex<ChildProcess?>(nil)

    init(command: String, logPath: String, registry: ChildRegistry) {
        self.command = command
        self.logPath = logPath
        self.registry = registry
    }

    func start() throws {
        let child = try ChildProcess.spawn(
            ["/bin/sh", "-c", command], stdin: .null, stdout: .file(logPath), stderr: .file(logPath), newProcessGroup: true
        )
        registry.add(child)
        current.withLock { $0 = child }
    }

    /// Whether the server's first process has ended (a bad command, a port already taken).
    var hasEnded: Bool { current.withLock { $0 }?.poll() != nil }

    func freeze() { current.withLock { $0 }?.signal(SIGSTOP) }

    func thaw() { current.withLock { $0 }?.signal(SIGCONT) }

    /// SIGKILL to the whole group; returns once it is reaped.
    func kill() async {
        if let child = current.withLock({ $0 }) { await child.kill() }
    }

    /// At the end of the run: continued if stopped, SIGTERM, SIGKILL after 10 s.
    func terminate() async {
        thaw()
        if let child = current.withLock({ $0 }) { await child.terminate(grace: .seconds(10)) }
    }

    /// Kills the server and starts it again on its data.
    func restart() async throws {
        await kill()
        try start()
    }

    /// The end of the server's log, to explain a failure.
    var logTail: [Substring] {
        (Platform.readFile(logPath) ?? "").split(separator: "\n").suffix(5)
    }
}
