#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import ToozTestKit

/// A throwaway MariaDB for one test: `mariadb-install-db` into its own temp directory (with the
/// databases `tooz` and `tooz_other` and the user `tooz`, password `tooz-secret`,
/// mysql_native_password, ALL on `*.*`, from 127.0.0.1 and over the socket), then `mariadbd` in
/// the foreground on a free loopback port with its unix socket in the directory. Stopped by
/// pid, never by name. scripts/lib/backends.sh (`start_mysql`) starts the shared server the same
/// way.
///
/// ```swift
/// try await MySQLTestServer.withServer { server in … server.url … }
/// ```
///
/// Fault tests can ``stop()`` it (SIGKILL, as a crash; also ``kill9()``), ``freeze()`` and
/// ``thaw()`` it (SIGSTOP/SIGCONT: connections stay open, nothing is answered; also ``pause()``
/// and ``resume()``), and ``restart()`` it on the same data directory and port (after a
/// ``stop()``, InnoDB recovers what it had made durable; on a running server, a normal shutdown
/// first). ``sql(_:database:)`` runs statements as the server's administrator over the socket. A
/// server from ``start(arguments:tls:)`` (rather than ``withServer(arguments:tls:_:)``) must be
/// ended with ``shutdown()`` (or ``stopAndRemove()``), which removes its directory. When
/// `TOOZ_TEST_TMP` is set (scripts/test), the running server's pid is listed as
/// `$TOOZ_TEST_TMP/test-servers/<pid>.pid`.
package final class MySQLTestServer: Sendable {
    /// TLS files for the server (`--ssl-ca`, `--ssl-cert`, `--ssl-key`): it then speaks TLS to
    /// clients that ask for it, and still plain text to those that do not, unless `arguments`
    /// has `--require-secure-transport`.
    package struct TLS: Sendable {
        package var caCertificatePath: String
        package var certificatePath: String
        package var keyPath: String

        package init(caCertificatePath: String, certificatePath: String, keyPath: String) {
            self.caCertificatePath = caCertificatePath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }

        /// The server side of files made by ``RedisTestServer/makeCertificates(in:)`` (a CA, a
        /// server certificate for 127.0.0.1 and localhost, and a client certificate).
        package init(_ certificates: RedisTestServer.Certificates) {
            self.init(
                caCertificatePath: certificates.caCertificatePath,
                certificatePath: certificates.serverCertificatePath,
                keyPath: certificates.serverKeyPath
            )
        }
    }

    package enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)
        case sqlFailed(String)

        package var description: String {
            switch self {
            case .notInstalled: "MariaDB is not installed (no mariadbd and mariadb-install-db in TOOZ_TEST_MYSQL_BIN, /usr/sbin or /usr/bin)"
            case .didNotStart(let log): "MariaDB did not start: \(log)"
            case .sqlFailed(let output): "mariadb failed: \(output)"
            }
        }
    }

    /// The user, password and database that ``url`` names.
    package static let user = "tooz"
    package static let password = "tooz-secret"
    package static let database = "tooz"

    /// The loopback TCP port, the same across ``restart()``.
    package let port: Int
    /// The server's directory: its data, socket, logs (removed by ``shutdown()``).
    package let directory: String
    /// Extra options for `mariadbd`, after ours.
    package let arguments: [String]
    package let tls: TLS?
    private let process = Mutex<pid_t?>(nil)

    /// The running server's pid, if it runs.
    package var pid: pid_t? { self.process.withLock { $0 } }

    /// `mysql://tooz:tooz-secret@127.0.0.1:PORT/tooz`.
    package var url: String { "mysql://\(Self.user):\(Self.password)@127.0.0.1:\(self.port)/\(Self.database)" }

    /// The server's unix socket (the same user and password as over TCP).
    package var socketPath: String { self.directory + "/mysqld.sock" }

    /// `mysql://tooz:tooz-secret@localhost/tooz?unix_socket=PATH`: the same server over its socket.
    package var socketURL: String {
        "mysql://\(Self.user):\(Self.password)@localhost/\(Self.database)?unix_socket=\(self.socketPath)"
    }

    // MARK: - Availability

    /// `mariadbd`: in TOOZ_TEST_MYSQL_BIN (scripts/test), else /usr/sbin, else on PATH.
    package static let serverExecutable: String? = program("mariadbd", in: ["/usr/sbin", "/usr/bin"])
    /// `mariadb-install-db` (a shell script that bootstraps a data directory with mariadbd).
    package static let installExecutable: String? = program("mariadb-install-db", in: ["/usr/bin", "/usr/sbin"])
    /// The `mariadb` command line client, for ``sql(_:database:)`` and the readiness check.
    package static let clientExecutable: String? = program("mariadb", in: ["/usr/bin"])

    /// Whether server tests run: when MariaDB is installed, and always under `CI=true` (where a
    /// missing server must fail the run rather than skip it).
    package static var testsEnabled: Bool {
        (serverExecutable != nil && installExecutable != nil && clientExecutable != nil)
            || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    private static func program(_ name: String, in directories: [String]) -> String? {
        var candidates: [String] = []
        if let bin = ProcessInfo.processInfo.environment["TOOZ_TEST_MYSQL_BIN"], !bin.isEmpty { candidates.append(bin) }
        candidates += directories
        for directory in candidates where access(directory + "/" + name, X_OK) == 0 {
            return directory + "/" + name
        }
        return ServerProcess.findExecutable(name)
    }

    /// The administrator: the unix_socket account that `mariadb-install-db` makes for the OS
    /// user running it (root under root), reached over the socket without a password.
    package static let adminUser: String = {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }()

    // MARK: - Lifecycle

    private init(port: Int, directory: String, arguments: [String], tls: TLS?) {
        self.port = port
        self.directory = directory
        self.arguments = arguments
        self.tls = tls
    }

    /// Makes a data directory and starts a server on a free loopback port; `arguments` are
    /// appended to mariadbd's (e.g. `--require-secure-transport=ON`, `--max-connections=20`).
    package static func start(arguments: [String] = [], tls: TLS? = nil) async throws -> MySQLTestServer {
        guard let install = installExecutable, serverExecutable != nil, clientExecutable != nil else { throw Failure.notInstalled }
        let directory = try makeDirectory()
        do {
            try Data(setupSQL.utf8).write(to: URL(fileURLWithPath: directory + "/setup.sql"))
            var command = [
                install, "--no-defaults", "--datadir=\(directory)/data", "--auth-root-authentication-method=socket",
                "--auth-root-socket-user=\(adminUser)", "--skip-test-db", "--skip-name-resolve", "--extra-file=\(directory)/setup.sql",
                "--innodb-log-file-size=16M", "--innodb-buffer-pool-size=64M",
            ]
            if geteuid() == 0 { command.append("--user=root") }
            let status = try ServerProcess.runToCompletion(command, output: directory + "/install.log")
            guard status == 0 else { throw Failure.didNotStart("mariadb-install-db: " + tail(directory + "/install.log")) }
        } catch {
            ServerProcess.removeTree(directory)
            throw error
        }
        var lastError: (any Error)?
        // A free port can be taken by someone else before mariadbd binds it: try a few.
        for _ in 0..<5 {
            let server = MySQLTestServer(port: try ServerProcess.freePort(), directory: directory, arguments: arguments, tls: tls)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
                await server.stop()
            }
        }
        ServerProcess.removeTree(directory)
        throw lastError ?? Failure.didNotStart("no free port")
    }

    /// Runs `body` with a fresh server, then shuts it down and removes its directory.
    package static func withServer<T>(
        arguments: [String] = [],
        tls: TLS? = nil,
        _ body: (MySQLTestServer) async throws -> T
    ) async throws -> T {
        let server = try await start(arguments: arguments, tls: tls)
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Kills the server with SIGKILL, as a crash would (no shutdown: the sessions' locks go with
    /// their connections, InnoDB recovers at the next start), and waits for it to end.
    package func stop() async {
        guard let pid = self.pid else { return }
        kill(pid, SIGKILL)
        _ = ServerProcess.reap(pid, blocking: true)
        self.process.withLock { if $0 == pid { $0 = nil } }
    }

    /// Freezes the server with SIGSTOP (every thread): connections stay open, nothing is answered.
    package func freeze() {
        if let pid = self.pid { ServerProcess.freeze(pid) }
    }

    /// Lets a ``freeze()``d server run again (SIGCONT).
    package func thaw() {
        if let pid = self.pid { kill(pid, SIGCONT) }
    }

    /// ``freeze()``, under the name the other test servers use.
    package func pause() { self.freeze() }

    /// ``thaw()``, under the name the other test servers use.
    package func resume() { self.thaw() }

    /// ``stop()``, under the name the other test servers use for a crash.
    package func kill9() async { await self.stop() }

    /// ``shutdown()``, under the name the other test servers use.
    package func stopAndRemove() async { await self.shutdown() }

    /// Starts the server again on the same data directory and port. A running server is shut
    /// down first (a normal shutdown: every session ends); after ``stop()`` it starts from what
    /// the crash left, as a server that came back would.
    package func restart() async throws {
        await self.terminate()
        try await self.launch()
    }

    /// Shuts the server down (SIGTERM after a SIGCONT, SIGKILL after 15 s) and removes its directory.
    package func shutdown() async {
        await self.terminate()
        ServerProcess.removeTree(self.directory)
    }

    /// A normal shutdown (SIGTERM: mariadbd ends every session and stops), SIGKILL after 15 s.
    private func terminate() async {
        guard let pid = self.pid else { return }
        await ServerProcess.stop(pid, grace: .seconds(15))
        self.process.withLock { if $0 == pid { $0 = nil } }
    }

    /// Runs `sql` (one or more statements) with the `mariadb` client over the unix socket as the
    /// administrator; returns its output, tab-separated, without column names.
    @discardableResult
    package func sql(_ sql: String, database: String = "tooz") throws -> String {
        guard let client = Self.clientExecutable else { throw Failure.notInstalled }
        let output = self.directory + "/sql-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(output) }
        let status = try ServerProcess.runToCompletion(
            [
                // --skip-ssl: Debian's client turns TLS on whenever the server offers it, on the
                // socket too, at ~30 ms of CPU per connection.
                client, "--no-defaults", "--skip-ssl", "--protocol=socket", "--socket=\(self.socketPath)", "--user=\(Self.adminUser)",
                "--batch", "--skip-column-names", "--connect-timeout=5", "--database=\(database)", "--execute=\(sql)",
            ],
            output: output
        )
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failure.sqlFailed(text) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Process

    /// A new directory for a server: under `TOOZ_TEST_TMP` when scripts/test set it (so that a
    /// test run that dies leaves no data directory behind: scripts/test removes its temp dir)
    /// and it is short enough for the socket path, else `<TMPDIR>/tooz-mysql.XXXXXX`.
    private static func makeDirectory() throws -> String {
        if let base = ProcessInfo.processInfo.environment["TOOZ_TEST_TMP"], base.hasPrefix("/"), base.utf8.count <= 60 {
            var template = Array((base + "/tooz-mysql.XXXXXX").utf8CString)
            if let made = mkdtemp(&template) { return String(cString: made) }
        }
        return try ServerProcess.makeTemporaryDirectory(prefix: "tooz-mysql")
    }

    /// What the server is told to make at install time (the bootstrap runs without grant tables,
    /// where CREATE USER and GRANT are refused until FLUSH PRIVILEGES loads them).
    private static let setupSQL = """
        FLUSH PRIVILEGES;
        CREATE DATABASE IF NOT EXISTS tooz;
        CREATE DATABASE IF NOT EXISTS tooz_other;
        CREATE USER IF NOT EXISTS 'tooz'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('tooz-secret');
        CREATE USER IF NOT EXISTS 'tooz'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('tooz-secret');
        GRANT ALL PRIVILEGES ON *.* TO 'tooz'@'127.0.0.1' WITH GRANT OPTION;
        GRANT ALL PRIVILEGES ON *.* TO 'tooz'@'localhost' WITH GRANT OPTION;

        """

    /// mariadbd's options: loopback only, no option files, a small footprint, durable commits,
    /// and room for the connections that held locks pin (as scripts/lib/backends.sh's
    /// `mysql_server_args`, with fewer connections).
    private var commandLine: [String] {
        var line = [
            Self.serverExecutable ?? "/usr/sbin/mariadbd", "--no-defaults", "--datadir=\(self.directory)/data",
            "--bind-address=127.0.0.1", "--port=\(self.port)", "--socket=\(self.socketPath)",
            "--pid-file=\(self.directory)/mariadbd.pid", "--tmpdir=\(self.directory)", "--log-error=\(self.directory)/error.log",
            "--skip-name-resolve", "--skip-log-bin", "--skip-performance-schema", "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=1", "--max-connections=500",
            "--max-connect-errors=4294967295", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
        ]
        // mariadbd refuses to run as root unless told to.
        if geteuid() == 0 { line.append("--user=root") }
        if let tls = self.tls {
            line += ["--ssl-ca=\(tls.caCertificatePath)", "--ssl-cert=\(tls.certificatePath)", "--ssl-key=\(tls.keyPath)"]
        }
        return line + self.arguments
    }

    private func launch() async throws {
        let pid = try ServerProcess.spawn(self.commandLine, output: self.directory + "/mariadbd.out")
        self.process.withLock { $0 = pid }
        let deadline = ContinuousClock.now + Duration.testPatience
        while ContinuousClock.now < deadline {
            if ServerProcess.reap(pid, blocking: false) {
                self.process.withLock { if $0 == pid { $0 = nil } }
                throw Failure.didNotStart(self.logTail())
            }
            if (try? self.sql("SELECT 1")) == "1" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure.didNotStart("no answer within \(Duration.testPatience); " + self.logTail())
    }

    private func logTail() -> String {
        Self.tail(self.directory + "/error.log") + Self.tail(self.directory + "/mariadbd.out")
    }

    private static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(800))
    }
}
