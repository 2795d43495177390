import Foundation
import Testing

@testable import ToozCLI

/// The host-local backends under real processes: a holder killed with SIGKILL gives its lock
/// back at once, and concurrent `tooz lock` processes never lose an update.
@Suite struct LocalBackendProcessTests {
    /// A unique lock name, since ipc:// locks are shared by the whole host.
    private static func uniqueName(_ base: String) -> String {
        "cli-test-\(base)-\(Platform.processID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    private static func url(_ scheme: String, _ scratch: ScratchDirectory) -> String {
        scheme == "file" ? scratch.fileURL : "ipc://"
    }

    @Test(arguments: ["file", "ipc"])
    func killingAHolderWithSIGKILLFreesTheLockAtOnce(scheme: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let url = Self.url(scheme, scratch)
        let name = Self.uniqueName("kill")
        let pidFile = scratch.path + "/command.pid"
        let holder = try ToozProcess.start([
            "lock", "--url", url, name, "--", "sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 100",
        ])
        defer { holder.cleanUp() }
        try await eventually("the holder to start its command") { readPID(pidFile) != nil }
        // The command outlives a tooz killed with SIGKILL; stop it whatever happens below.
        let commandPID = try #require(readPID(pidFile))
        defer { Platform.send(SIGKILL, to: commandPID) }

        let busy = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(busy.status == 75)

        holder.child.signal(SIGKILL)
        #expect(try await holder.wait() == .signalled(SIGKILL))

        let free = try await ToozProcess.run(["lock", "--url", url, "--wait", "0", name, "--", "true"])
        #expect(free.status == 0, "stderr: \(free.stderr)")
    }

    @Test(arguments: ["file", "ipc"])
    func concurrentLockedIncrementsNeverLoseAnUpdate(scheme: String) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let processes = 4
        let rounds = 25
        let counter = scratch.path + "/counter"
        let tokens = scratch.path + "/tokens"
        try Platform.writeFile(counter, "0\n")
        // Read, pause, write: without the lock, concurrent increments would be lost.
        let increment = #"n=$(cat "$COUNTER"); sleep 0.002; echo $((n + 1)) > "$COUNTER"; echo "$TOOZ_FENCING_TOKEN" >> "$TOKENS""#
        let loop = #"i=0; while [ $i -lt "$ROUNDS" ]; do "$TOOZ" lock --url "$URL" "$NAME" -- sh -c "$INCREMENT" || exit 1; i=$((i + 1)); done"#
        let environment = [
            "TOOZ": ToozProcess.executable, "URL": Self.url(scheme, scratch), "NAME": Self.uniqueName("counter"),
            "COUNTER": counter, "TOKENS": tokens, "INCREMENT": increment, "ROUNDS": String(rounds),
        ]
        let registry = ChildRegistry()
        var loops: [ChildProcess] = []
        do {
            for _ in 0..<processes {
                let child = try ChildProcess.spawn(["sh", "-c", loop], environment: environment, stdin: .null)
                registry.add(child)
                loops.append(child)
            }
            for child in loops {
                #expect(try await child.wait() == .exited(0))
            }
        } catch {
            await registry.killAll()
            throw error
        }

        let final = Platform.readFile(counter)?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(final == String(processes * rounds))
        // Appended under the lock, so the file's order is the acquisition order.
        let fencing = (Platform.readFile(tokens) ?? "").split(separator: "\n").compactMap { UInt64($0) }
        #expect(fencing.count == processes * rounds)
        #expect(zip(fencing, fencing.dropFirst()).allSatisfy { $0 < $1 })
    }
}
