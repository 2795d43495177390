import Testing
import Tooz

@testable import ToozMySQL

/// tooz's `mysql://` URL form (PyMySQL's options) and ours: what each part becomes, and a clear
/// `invalidConfiguration` (without the password) for what is wrong.
@Suite("mysql:// URLs")
struct MySQLConfigurationTests {
    private func make(_ url: String) throws -> (MySQLConfiguration, CoordinatorConfiguration) {
        try MySQLConfiguration.make(url: BackendURL(url))
    }

    private func failure(_ url: String) -> ToozError? {
        do {
            _ = try make(url)
            return nil
        } catch {
            return error as? ToozError
        }
    }

    @Test func theURLPartsBecomeTheEndpointUserAndDatabase() throws {
        let (configuration, coordination) = try make("mysql://alice:s3cret@db.example:3307/orders")
        #expect(configuration.connection.endpoint == .tcp(host: "db.example", port: 3307))
        #expect(configuration.connection.username == "alice")
        #expect(configuration.connection.password == "s3cret")
        #expect(configuration.connection.database == "orders")
        #expect(configuration.connection.tls.mode == .disabled)
        #expect(configuration.tablePrefix == "tooz_")
        #expect(configuration.statementTimeout == .seconds(10))
        #expect(coordination.membershipTTL == CoordinatorConfiguration().membershipTTL)
        #expect(!configuration.description.contains("s3cret"))
    }

    @Test func thePortDefaultsTo3306() throws {
        let (configuration, _) = try make("mysql://u:p@localhost/db")
        #expect(configuration.connection.endpoint == .tcp(host: "localhost", port: 3306))
    }

    @Test func unixSocketReplacesTheHost() throws {
        let (configuration, _) = try make("mysql://u:p@localhost/db?unix_socket=/run/mysqld/mysqld.sock")
        #expect(configuration.connection.endpoint == .unixSocket(path: "/run/mysqld/mysqld.sock"))
        let (hostless, _) = try make("mysql://u@/db?unix_socket=/tmp/s.sock")
        #expect(hostless.connection.endpoint == .unixSocket(path: "/tmp/s.sock"))
        #expect(hostless.connection.password == nil)
    }

    @Test func anySSLOptionTurnsTLSOnAsInPyMySQL() throws {
        let (withCA, _) = try make("mysql://u:p@h/db?ssl_ca=/etc/ca.pem")
        #expect(withCA.connection.tls.mode == .required)
        #expect(withCA.connection.tls.caFile == "/etc/ca.pem")
        #expect(withCA.connection.tls.verify == .full)
        let (noHostname, _) = try make("mysql://u:p@h/db?ssl_ca=/etc/ca.pem&ssl_check_hostname=false")
        #expect(noHostname.connection.tls.verify == .noHostname)
        let (clientCertificate, _) = try make("mysql://u:p@h/db?ssl_cert=/c.pem&ssl_key=/k.pem&ssl_cipher=AES128-SHA")
        #expect(clientCertificate.connection.tls.mode == .required)
        #expect(clientCertificate.connection.tls.verify == .none, "without a CA, PyMySQL does not verify the server")
        #expect(clientCertificate.connection.tls.certificateFile == "/c.pem")
        #expect(clientCertificate.connection.tls.keyFile == "/k.pem")
        #expect(clientCertificate.connection.tls.cipher == "AES128-SHA")
        let (unverified, _) = try make("mysql://u:p@h/db?ssl_ca=/etc/ca.pem&ssl_verify_mode=none")
        #expect(unverified.connection.tls.verify == .none)
        let (preferred, _) = try make("mysql://u:p@h/db?ssl_mode=PREFERRED")
        #expect(preferred.connection.tls.mode == .preferred)
    }

    @Test func ourOptionsAndTheCommonOnesAreRead() throws {
        let (configuration, coordination) = try make(
            "mysql://u:p@h/d?table_prefix=coord_2_&timeout=3&connect_timeout=1.5&lock_timeout=12&membership_timeout=9&poll_interval=0.25"
        )
        #expect(configuration.tablePrefix == "coord_2_")
        #expect(configuration.statementTimeout == .seconds(3))
        #expect(configuration.connection.connectTimeout == .milliseconds(1500))
        #expect(coordination.lockTTL == .seconds(12))
        #expect(coordination.membershipTTL == .seconds(9))
        #expect(coordination.eventPollInterval == .milliseconds(250))
    }

    @Test(arguments: [
        ("mysql://u:hunter2@h/db?bogus=1", "bogus"),
        ("mysql://:hunter2@h/db", "names no user"),
        ("mysql://u:hunter2@h", "names no database"),
        ("mysql://u:hunter2@h/", "names no database"),
        ("mysql://u:hunter2@h/a/b", "one database name"),
        ("mysql://u:hunter2@h/db?unix_socket=relative.sock", "absolute path"),
        ("mysql://u:hunter2@h/db?table_prefix=x;drop", "table_prefix"),
        ("mysql://u:hunter2@h/db?table_prefix=1x", "table_prefix"),
        ("mysql://u:hunter2@h/db?ssl_mode=verify_everything", "ssl_mode"),
        ("mysql://u:hunter2@h/db?ssl_mode=disabled&ssl_ca=/ca.pem", "ssl_ca needs TLS"),
        ("mysql://u:hunter2@h/db?ssl_cert=/c.pem", "go together"),
        ("mysql://u:hunter2@h/db?ssl_verify_mode=required", "needs ssl_ca"),
        ("mysql://u:hunter2@h/db?ssl_verify_mode=maybe&ssl_ca=/ca.pem", "ssl_verify_mode"),
        ("mysql://u:hunter2@h/db?ssl_check_hostname=perhaps&ssl_ca=/ca.pem", "true or false"),
        ("mysql://u:hunter2@h/db?unix_socket=/s.sock&ssl_ca=/ca.pem", "unix_socket"),
        ("mysql://u:hunter2@h/db?timeout=-1", "timeout"),
        ("mysql://u:hunter2@h/\(String(repeating: "d", count: 65))", "database name"),
        ("redis://u:hunter2@h/db", "not a mysql:// URL"),
    ])
    func badURLsAreClearErrorsWithoutThePassword(url: String, expected: String) throws {
        let error = try #require(failure(url))
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains(expected), "\(error.message)")
        #expect(!error.message.contains("hunter2"))
    }

    @Test func tablePrefixesAreCheckedBeforeTheyAreSplicedIntoSQL() {
        for good in ["tooz_", "_x", "App1_"] { #expect(MySQLConfiguration.isValidTablePrefix(good)) }
        for bad in ["", "1a", "a-b", "a b", "a`b", "é", String(repeating: "a", count: 49)] {
            #expect(!MySQLConfiguration.isValidTablePrefix(bad), "\(bad)")
        }
    }
}

/// The SQL text we build: hexadecimal literals for every value, nothing of a name spliced raw.
@Suite("MySQL literals and statements")
struct MySQLLiteralTests {
    @Test func bytesBecomeHexLiteralsWhateverTheyHold() {
        #expect(MySQLLiteral.binary("mylock") == "X'6d796c6f636b'")
        #expect(MySQLLiteral.binary("") == "X''")
        #expect(MySQLLiteral.binary("a'b\\c\0d;--") == "X'6127625c6300643b2d2d'")
        #expect(MySQLLiteral.binary("é") == "X'c3a9'")
    }

    @Test func durationsBecomeSecondsAndWholeSecondsRoundedUp() {
        #expect(MySQLLiteral.seconds(.milliseconds(1250)) == "1.250")
        #expect(MySQLLiteral.seconds(.milliseconds(5)) == "0.005")
        #expect(MySQLLiteral.seconds(.seconds(-3)) == "0.000")
        #expect(MySQLLiteral.seconds(.seconds(Int64.max)) == "31536000.000")
        #expect(MySQLLiteral.wholeSecondsUp(.milliseconds(2001)) == 3)
        #expect(MySQLLiteral.wholeSecondsUp(.seconds(2)) == 2)
        #expect(MySQLLiteral.wholeSecondsUp(.milliseconds(1)) == 1)
        #expect(MySQLLiteral.wholeSecondsUp(.zero) == 1)
        #expect(MySQLLiteral.wholeSecondsUp(.seconds(Int64.max)) == MySQLLiteral.longestSeconds)
    }

    @Test func namesReachStatementsOnlyAsHex() {
        let schema = MySQLSchema(prefix: "tooz_", hasSequences: true)
        let hostile = "x'); DROP TABLE tooz_groups; --"
        for sql in [
            schema.createGroup(hostile), schema.deleteGroup(hostile), schema.join(hostile, member: hostile, capabilities: [0x27], sessionKey: 7),
            schema.leave(hostile, member: hostile), schema.members(of: hostile, withCapabilities: true),
            schema.capabilities(of: hostile, in: hostile), schema.updateCapabilities([0x27], of: hostile, in: hostile),
            schema.heartbeat(member: hostile, sessionKey: 7, groups: [hostile]), schema.holder(Array(hostile.utf8)),
            schema.tryAcquire(Array(hostile.utf8)), schema.waitAcquire(Array(hostile.utf8), wait: "1.000"),
        ] {
            #expect(!sql.contains("DROP"), "\(sql)")
        }
    }

    @Test func leadershipLocksFitMySQLsLimitAndDifferPerDatabase() {
        let one = MySQLSchema.leadershipLock(database: "a", group: String(repeating: "g", count: 1024))
        let other = MySQLSchema.leadershipLock(database: "b", group: String(repeating: "g", count: 1024))
        #expect(one.utf8.count <= MySQLBackend.lockNameLimit)
        #expect(one.hasPrefix(MySQLSchema.reservedLockPrefix))
        #expect(one != other)
    }

    @Test func fencingComesFromASequenceOnMariaDBAndACounterRowOnMySQL() {
        let mariaDB = MySQLSchema(prefix: "t_", hasSequences: true)
        #expect(mariaDB.tryAcquire([0x61]) == "SELECT CASE GET_LOCK(X'61', 0) WHEN 1 THEN NEXTVAL(t_fencing) WHEN 0 THEN 0 END")
        #expect(mariaDB.waitAcquire([0x61], wait: "2.500").contains("GET_LOCK(X'61', 2.500)"))
        let mysql = MySQLSchema(prefix: "t_", hasSequences: false)
        #expect(mysql.tryAcquire([0x61]).contains("LAST_INSERT_ID(value + 1)"))
        #expect(mysql.waitAcquire([0x61], wait: "1.000").contains("LAST_INSERT_ID(value + 1)"))
        #expect(mysql.migration.contains("INSERT IGNORE INTO t_fencing"))
    }
}
