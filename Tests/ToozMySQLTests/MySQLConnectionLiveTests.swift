import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import Tooz
import ToozMySQL

/// `MySQLConnection` against the server of `TOOZ_TEST_MYSQL_URL`
/// (`mysql://user:password@host:port/database`, as scripts/test exports it). The unix socket
/// test also needs `TOOZ_TEST_MYSQL_SOCKET` (or `?unix_socket=` in the URL), the TLS tests
/// `TOOZ_TEST_MYSQL_CA` (the CA file of the server's certificate, issued for 127.0.0.1).
@Suite("MySQLConnection against a live server", .enabled(if: MySQLLive.url != nil, "TOOZ_TEST_MYSQL_URL is not set"))
struct MySQLConnectionLiveTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static var loop: any EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    static func connect(_ configure: (inout MySQLConnectionConfiguration) -> Void = { _ in }) async throws -> MySQLConnection {
        var configuration = try #require(MySQLLive.configuration())
        configure(&configuration)
        return try await MySQLConnection.connect(configuration, eventLoop: loop, logger: logger)
    }

    static func connectError(_ configure: (inout MySQLConnectionConfiguration) -> Void) async throws -> ToozError {
        do {
            let connection = try await connect(configure)
            await connection.close()
        } catch let error as ToozError {
            return error
        }
        throw MySQLLive.Unexpected("the connection succeeded")
    }

    @Test func selectsStringsNullsAndIntegers() async throws {
        let connection = try await Self.connect()
        defer { connection.closeNow() }
        #expect(connection.connectionID > 0)
        #expect(!connection.serverVersion.isEmpty)
        let results = try await connection.query(
            "SELECT 'héllo' AS s, NULL AS n, -42 AS i, 18446744073709551615 AS u, CONNECTION_ID() AS id",
            timeout: .seconds(30),
            doing: "select"
        )
        let set = try #require(results.lastRows)
        #expect(set.columns.map(\.name) == ["s", "n", "i", "u", "id"])
        let row = try #require(set.rows.first)
        #expect(row.string(0) == "héllo")
        #expect(row.bytes(1) == nil)
        #expect(try row.int64(2, "i") == -42)
        #expect(throws: ToozError.self) { try row.int64(3, "u") }
        #expect(try row.int64(4, "id") == Int64(connection.connectionID))
        try await connection.ping(timeout: .seconds(30))
        await connection.close()
        #expect(connection.isClosed)
    }

    @Test func multiStatementsReturnEveryResult() async throws {
        let connection = try await Self.connect()
        defer { connection.closeNow() }
        let results = try await connection.query(
            "SET @a = 5; SELECT @a + 1, 'x' UNION ALL SELECT 7, NULL; DO 1",
            timeout: .seconds(30),
            doing: "run three statements"
        )
        #expect(results.count == 3)
        #expect(results[0].ok != nil)
        #expect(results[1].resultSet?.rows.map { $0.values } == [[Array("6".utf8), [0x78]], [[0x37], nil]])
        #expect(results[2].ok != nil)
        #expect(results.lastRows == results[1].resultSet)
    }

    @Test func serverErrorsAreMappedAndTheConnectionStaysUsable() async throws {
        let connection = try await Self.connect()
        defer { connection.closeNow() }
        await #expect {
            _ = try await connection.query("DO 1; SELECT * FROM no_such_table_here", timeout: .seconds(30), doing: "read the missing table")
        } throws: { error in
            guard let error = error as? ToozError, let server = MySQLServerError.of(error) else { return false }
            return error.code == .backendError && server.code == 1146 && server.sqlState == "42S02"
                && error.message.hasPrefix("MySQL refused to read the missing table: ") && error.message.contains("(error 1146, SQLSTATE 42S02)")
        }
        let results = try await connection.query("SELECT 1", timeout: .seconds(30), doing: "select")
        #expect(results.rows.first?.string(0) == "1")
    }

    @Test func pipelinedQueriesFromManyTasks() async throws {
        let connection = try await Self.connect()
        defer { connection.closeNow() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let results = try await connection.query("SELECT \(index)", timeout: .seconds(10), doing: "select \(index)")
                    #expect(results.rows.first?.string(0) == "\(index)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aWrongPasswordIsRefusedWithoutShowingIt() async throws {
        let error = try await Self.connectError { $0.password = "definitely-wrong-password" }
        #expect(error.code == .connectionFailed)
        #expect(MySQLServerError.of(error)?.code == 1045)
        #expect(error.message.contains("(error 1045, SQLSTATE 28000)"))
        #expect(error.message.hasPrefix("could not connect to MySQL as "))
        #expect(!error.message.contains("definitely-wrong-password"))
        #expect(!"\(error)".contains("definitely-wrong-password"))
    }

    @Test func anUnknownDatabaseIsRefused() async throws {
        let error = try await Self.connectError { $0.database = "no_such_database_here" }
        #expect(error.code == .connectionFailed)
        #expect(MySQLServerError.of(error)?.code == 1049)
    }

    @Test(.enabled(if: MySQLLive.socket != nil, "no unix socket given")) func connectsOverTheUnixSocket() async throws {
        let connection = try await Self.connect { $0.endpoint = .unixSocket(path: MySQLLive.socket ?? "") }
        defer { connection.closeNow() }
        let results = try await connection.query("SELECT 1", timeout: .seconds(30), doing: "select")
        #expect(results.rows.first?.string(0) == "1")
    }

    @Test func aTimeoutClosesTheConnection() async throws {
        let connection = try await Self.connect()
        defer { connection.closeNow() }
        await #expect {
            _ = try await connection.query("SELECT SLEEP(5)", timeout: .milliseconds(200), doing: "sleep")
        } throws: { error in
            (error as? ToozError)?.code == .timedOut
                && (error as? ToozError)?.message == "MySQL did not answer within 0.2 seconds while trying to sleep; the connection was closed"
        }
        try await connection.closeFuture.get()
        #expect(connection.isClosed)
        await #expect {
            _ = try await connection.query("SELECT 1", timeout: .seconds(1), doing: "select after the timeout")
        } throws: { error in
            (error as? ToozError)?.message == "the MySQL connection was lost before trying to select after the timeout"
        }
    }

    @Test func cancellationClosesTheConnectionOrAbandonsTheStatement() async throws {
        let closing = try await Self.connect()
        defer { closing.closeNow() }
        let task = Task { try await closing.query("SELECT SLEEP(5)", timeout: .seconds(30), doing: "sleep") }
        // Cancelled whether or not the statement was written yet: either way the caller returns at once.
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        try await closing.closeFuture.get()

        let shared = try await Self.connect()
        defer { shared.closeNow() }
        let abandoned = Task { try await shared.query("SELECT SLEEP(0.3)", timeout: .seconds(30), doing: "sleep", onCancel: .abandonStatement) }
        abandoned.cancel()
        await #expect(throws: CancellationError.self) { try await abandoned.value }
        // The abandoned reply is read and dropped: the next answer is the next query's.
        let results = try await shared.query("SELECT 'next'", timeout: .seconds(10), doing: "select")
        #expect(results.rows.first?.string(0) == "next")
        #expect(!shared.isClosed)
    }

    @Test func getLockOnTwoConnections() async throws {
        let first = try await Self.connect()
        let second = try await Self.connect()
        defer {
            first.closeNow()
            second.closeNow()
        }
        let name = "tooz-test-\(UInt64.random(in: 0...UInt64.max))"
        let taken = try await first.query("SELECT GET_LOCK('\(name)', 0)", timeout: .seconds(30), doing: "lock")
        #expect(try taken.rows.first?.int64(0, "GET_LOCK") == 1)
        let refused = try await second.query("SELECT GET_LOCK('\(name)', 0)", timeout: .seconds(30), doing: "lock")
        #expect(try refused.rows.first?.int64(0, "GET_LOCK") == 0)
        await first.close()
        // The lock ends with its session: the second connection gets it once the server saw the close.
        let again = try await second.query("SELECT GET_LOCK('\(name)', 10)", timeout: .seconds(15), doing: "lock")
        #expect(try again.rows.first?.int64(0, "GET_LOCK") == 1)
    }

    @Test(.enabled(if: MySQLLive.caFile != nil, "TOOZ_TEST_MYSQL_CA is not set")) func tlsWithAndWithoutVerification() async throws {
        for verify in [MySQLTLSConfiguration.Verification.none, .full] {
            let connection = try await Self.connect {
                $0.tls = MySQLTLSConfiguration(mode: .required, caFile: verify == .none ? nil : MySQLLive.caFile, verify: verify)
            }
            defer { connection.closeNow() }
            let results = try await connection.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", timeout: .seconds(30), doing: "read the cipher")
            #expect(results.rows.first?.string(1)?.isEmpty == false, "\(verify)")
        }
    }
}

enum MySQLLive {
    struct Unexpected: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let environment = ProcessInfo.processInfo.environment
    static let url: URLComponents? = environment["TOOZ_TEST_MYSQL_URL"].flatMap { $0.isEmpty ? nil : URLComponents(string: $0) }
    static let socket: String? =
        environment["TOOZ_TEST_MYSQL_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        ?? url?.queryItems?.first { $0.name == "unix_socket" }?.value
    static let caFile: String? = environment["TOOZ_TEST_MYSQL_CA"].flatMap { $0.isEmpty ? nil : $0 }

    static func configuration() -> MySQLConnectionConfiguration? {
        guard let url, let host = url.host else { return nil }
        let database = url.path.split(separator: "/").first.map(String.init)
        return MySQLConnectionConfiguration(
            endpoint: .tcp(host: host, port: url.port ?? 3306),
            username: url.user ?? "root",
            password: url.password,
            database: database,
            connectTimeout: .seconds(10)
        )
    }
}
