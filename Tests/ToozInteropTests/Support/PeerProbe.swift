import Foundation
import Synchronization

/// A Python child process (the interop venv's Python) running a probe script of a test's own,
/// which speaks the Python peer's line protocol (``PeerConnection``): a client of the server
/// that is neither tooz implementation, so that what the server holds is checked independently.
/// It exits when its input closes, when this process goes away, or after its time limit.
final class PeerProbe: Sendable {
    private let connection: PeerConnection
    private let nextID = Mutex(1)

    private init(connection: PeerConnection) {
        self.connection = connection
    }

    /// Writes `script` into `directory`, starts it, sends it `connect` with `arguments`, runs
    /// `body`, and always ends the probe.
    static func with<Result: Sendable>(
        name: String, script: String, in directory: TemporaryDirectory, connect arguments: [String: JSONValue],
        _ body: (PeerProbe) async throws -> Result
    ) async throws -> Result {
        let python = try InteropEnvironment.requirePython()
        let path = "\(directory.path)/\(name).py"
        guard FileManager.default.createFile(atPath: path, contents: Data(script.utf8)) else {
            throw InteropSetupError("cannot write \(path)")
        }
        let connection = try PeerConnection(name: name, python: python, script: path, logPath: "\(directory.path)/\(name).log")
        let probe = PeerProbe(connection: connection)
        do {
            _ = try await connection.answer(op: "hello", id: 0, timeout: .seconds(60))
            try await probe.call("connect", arguments)
            let result = try await body(probe)
            await connection.terminate()
            return result
        } catch {
            await connection.terminate()
            throw error
        }
    }

    /// Sends one request and waits for its answer.
    @discardableResult
    func call(_ op: String, _ arguments: [String: JSONValue] = [:]) async throws -> JSONValue {
        let id = nextID.withLock { next -> Int in
            defer { next += 1 }
            return next
        }
        var request = arguments
        request["id"] = .number(Double(id))
        request["op"] = .string(op)
        try connection.send(JSONEncoder().encode(JSONValue.object(request)) + Data("\n".utf8), op: op)
        return try await connection.answer(op: op, id: id, timeout: .seconds(30))
    }
}
