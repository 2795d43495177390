import Logging
import NIOCore
import NIOPosix
import Testing
import Tooz
import ToozMySQL
import ToozServerTestSupport

/// Connecting to peers that are no MySQL server: no server needed.
@Suite("MySQLConnection connect failures")
struct MySQLConnectionFailureTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func configuration(port: Int, timeout: Duration) -> MySQLConnectionConfiguration {
        MySQLConnectionConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: port), username: "tooz", password: "pw-not-shown", database: "tooz",
            connectTimeout: timeout
        )
    }

    static func connectError(_ configuration: MySQLConnectionConfiguration) async throws -> ToozError {
        do {
            let connection = try await MySQLConnection.connect(configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            connection.closeNow()
        } catch let error as ToozError {
            #expect(!error.message.contains("pw-not-shown"))
            return error
        }
        throw MySQLLive.Unexpected("the connection succeeded")
    }

    @Test func aSilentPeerTimesOut() async throws {
        let server = try await GarbageServer.start(reply: nil)
        defer { Task { try? await server.close() } }
        let error = try await Self.connectError(Self.configuration(port: server.port, timeout: .milliseconds(200)))
        #expect(error.code == .connectionFailed)
        #expect(error.message == "could not connect to MySQL as tooz@127.0.0.1:\(server.port)/tooz: no login within 0.2 seconds")
    }

    @Test func aPeerThatHangsUpFailsTheLogin() async throws {
        let server = try await GarbageServer.start(reply: nil, closeAtOnce: true)
        defer { Task { try? await server.close() } }
        let error = try await Self.connectError(Self.configuration(port: server.port, timeout: .seconds(10)))
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("the connection was lost"))
    }

    @Test func aClosedPortIsRefused() async throws {
        let server = try await GarbageServer.start(reply: nil)
        let port = server.port
        try await server.close()
        let error = try await Self.connectError(Self.configuration(port: port, timeout: .seconds(10)))
        #expect(error.code == .connectionFailed)
        #expect(error.message.hasPrefix("could not connect to MySQL as tooz@127.0.0.1:\(port)/tooz: "))
    }

    @Test func aCancelledConnectThrowsCancellationError() async throws {
        let server = try await GarbageServer.start(reply: nil)
        defer { Task { try? await server.close() } }
        let configuration = Self.configuration(port: server.port, timeout: .seconds(60))
        let task = Task {
            try await MySQLConnection.connect(configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Self.logger)
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }

    @Test func theDescriptionNeverShowsThePassword() {
        let configuration = Self.configuration(port: 3306, timeout: .seconds(1))
        #expect(configuration.description == "tooz@127.0.0.1:3306/tooz")
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("pw-not-shown"))
        let socket = MySQLConnectionConfiguration(endpoint: .unixSocket(path: "/run/mysqld/mysqld.sock"), username: "u")
        #expect(socket.description == "u@/run/mysqld/mysqld.sock")
    }
}
