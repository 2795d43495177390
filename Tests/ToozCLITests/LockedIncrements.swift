import Foundation
import Testing

@testable import ToozCLI

/// `processes` shell loops, each running `tooz lock URL NAME -- <increment>` `rounds` times on a
/// shared counter file: read, pause, write, so that an increment outside the lock would be lost.
/// Each increment also appends its fencing token, under the lock, so the token file is in
/// acquisition order.
struct LockedIncrements {
    var processes = 4
    var rounds = 25

    /// The final counter and the tokens in acquisition order.
    func run(url: String, lockName: String, in scratch: ScratchDirectory) async throws -> (counter: String?, tokens: [UInt64]) {
        let counter = scratch.path + "/counter"
        let tokens = scratch.path + "/tokens"
        try Platform.writeFile(counter, "0\n")
        let increment = #"n=$(cat "$COUNTER"); sleep 0.002; echo $((n + 1)) > "$COUNTER"; echo "$TOOZ_FENCING_TOKEN" >> "$TOKENS""#
        let loop = #"i=0; while [ $i -lt "$ROUNDS" ]; do "$TOOZ" lock --url "$URL" "$NAME" -- sh -c "$INCREMENT" || exit 1; i=$((i + 1)); done"#
        let environment = [
            "TOOZ": ToozProcess.executable, "URL": url, "NAME": lockName,
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
        let fencing = (Platform.readFile(tokens) ?? "").split(separator: "\n").compactMap { UInt64($0) }
        return (final, fencing)
    }
}
