import Testing
import Tooz
import ToozBackends
import ToozServerTestSupport

/// Connecting to something that is not a working ZooKeeper server fails with a `ToozError`
/// that says what happened, never with a bare `CancellationError`. The coordinator's own
/// start-up timeout and the client's session timeout are the same (`timeout=1`), so whichever
/// fires first, the message must name the cause; each case runs many times because the two
/// timers race.
@Suite("ZooKeeper connect failures name their cause", .serialized)
struct ZooKeeperConnectFailureTests {
    static let iterations = 20

    static func connectError(port: Int) async -> (any Error)? {
        do {
            let coordinator = try Coordinator(url: "zookeeper://127.0.0.1:\(port)?timeout=1", member: "m")
            try await coordinator.withRunning {}
            return nil
        } catch {
            return error
        }
    }

    /// `causes`: the words the message must hold, any of them.
    static func expectFailure(port: Int, naming causes: String..., iteration: Int) async {
        let error = await connectError(port: port)
        let text = error.map { String(describing: $0) } ?? "no error"
        #expect(!text.contains("CancellationError"), "iteration \(iteration): \(text)")
        let tooz = error as? ToozError
        #expect(tooz?.code == .connectionFailed || tooz?.code == .timedOut, "iteration \(iteration): \(text)")
        #expect(causes.contains { tooz?.message.contains($0) == true }, "iteration \(iteration): \(text)")
    }

    @Test func silentServer() async throws {
        let server = try await GarbageServer.start(reply: nil)
        for iteration in 0..<Self.iterations {
            // On a loaded machine our own event loop may not even see the TCP connection made
            // within the second; then that is the cause named.
            await Self.expectFailure(port: server.port, naming: "handshake", "TCP connection", iteration: iteration)
        }
        try await server.close()
    }

    @Test func closingServer() async throws {
        let server = try await GarbageServer.start(reply: nil, closeAtOnce: true)
        for iteration in 0..<Self.iterations {
            await Self.expectFailure(port: server.port, naming: "closed the connection", iteration: iteration)
        }
        try await server.close()
    }

    @Test func garbageServer() async throws {
        let server = try await GarbageServer.start(reply: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        for iteration in 0..<Self.iterations {
            await Self.expectFailure(port: server.port, naming: "not ZooKeeper", iteration: iteration)
        }
        try await server.close()
    }
}
