#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The backend server of a `tooz torture` run, when the harness owns it (`--server-command`):
/// a shell command started in a process group of its own. A SIGSTOP, SIGCONT or SIGKILL goes to
/// the group and to every descendant of its first process, found in `/proc` at that moment:
/// PostgreSQL's backends call `setsid()` and leave the group, and a frozen server whose
/// backends still answered would not be frozen. A restart waits until every old process has
/// gone, so that the new server does not find the old one's shared memory still in use.
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
            ["/bin/sh", "-c", command], stdin: .null, stdout: .file(logPath), stderr: .file(logPath), newProcessGroup: true,
            closeOtherDescriptors: true
        )
        registry.add(child)
        current.withLock { $0 = child }
    }

    /// Whether the server's first process has ended (a bad command, a port already taken).
    var hasEnded: Bool { current.withLock { $0 }?.poll() != nil }

    /// The parent first, so that it cannot start a new process that would be missed.
    func freeze() { signalTree(SIGSTOP) }

    func thaw() { signalTree(SIGCONT) }

    /// SIGKILL to the group and every descendant; returns once they have all gone.
    func kill() async {
        guard let child = current.withLock({ $0 }) else { return }
        let tree = Platform.descendants(of: child.pid)
        signalTree(SIGKILL)
        await child.kill()
        let deadline = Platform.monotonicNanoseconds() + 10_000_000_000
        while tree.contains(where: Platform.processExists), Platform.monotonicNanoseconds() < deadline {
            await ChildProcess.uncancellableSleep(.milliseconds(10))
        }
    }

    private func signalTree(_ number: Int32) {
        guard let child = current.withLock({ $0 }), child.poll() == nil else { return }
        child.signal(number)
        for pid in Platform.descendants(of: child.pid) { Platform.send(number, to: pid) }
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
