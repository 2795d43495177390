import Testing
import Tooz

@testable import ToozPostgres

/// tooz's `postgresql://` URL form and our options: what each part becomes, and a clear
/// `invalidConfiguration` (without the password) for what is wrong.
@Suite("postgresql:// URLs")
struct PostgresConfigurationTests {
    private func make(_ url: String) throws -> (PostgresConfiguration, CoordinatorConfiguration) {
        try PostgresConfiguration.make(url: BackendURL(url))
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
        let (configuration, _) = try make("postgresql://alice:s3cret@db.example:6543/orders")
        #expect(configuration.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == "orders")
        #expect(configuration.schema == "tooz")
        #expect(configuration.lockKeys == .tooz)
        #expect(configuration.tls.mode == .prefer)
        #expect(!configuration.description.contains("s3cret"))
    }

    @Test func queryOptionsOverrideTheURLAsInTooz() throws {
        let (configuration, _) = try make("postgresql://bob@ignored:1/ignored?host=10.0.0.5&port=7000&dbname=real")
        #expect(configuration.endpoint == .tcp(host: "10.0.0.5", port: 7000))
        #expect(configuration.database == "real")
    }

    @Test func aHostThatIsADirectoryIsAUnixSocketWithoutTLS() throws {
        let (configuration, _) = try make("postgresql://carol@/?host=/var/run/postgresql&port=5433")
        #expect(configuration.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5433"))
        #expect(configuration.tls.mode == .disable)
        #expect(configuration.database == nil)
    }

    @Test func ourOptionsAndTheCommonOnesAreRead() throws {
        let (configuration, coordination) = try make(
            "postgresql://u@h/d?schema=coord_2&lock_keys=bigint&timeout=3&connect_timeout=1.5&lock_timeout=12&membership_timeout=9&sslmode=require"
        )
        #expect(configuration.schema == "coord_2")
        #expect(configuration.lockKeys == .bigint)
        #expect(configuration.statementTimeout == .seconds(3))
        #expect(configuration.connectTimeout == .milliseconds(1500))
        #expect(coordination.lockTTL == .seconds(12))
        #expect(coordination.membershipTTL == .seconds(9))
        #expect(configuration.tls.mode == .require)
    }

    @Test(arguments: [
        ("postgresql://u@h/d?colour=blue", "colour"),
        ("postgresql://u@h/d?schema=Bad-Name", "schema"),
        ("postgresql://u@h/d?schema=x%22%3B%20drop", "schema"),
        ("postgresql://u@h/d?lock_keys=md5", "lock_keys"),
        ("postgresql://u@h/d?sslmode=sometimes", "sslmode"),
        ("postgresql://u@h/d?sslmode=verify-full", "sslrootcert"),
        ("postgresql://u@h/d?sslcert=/c.pem", "sslkey"),
        ("postgresql://u@h/d?sslmode=disable&sslrootcert=/ca.pem", "sslrootcert"),
        ("postgresql://u@h/a/b", "database name"),
        ("postgresql://u@h/d?port=70000", "port"),
        ("postgresql://u@h/d?timeout=-1", "timeout"),
        ("mysql://u@h/d", "postgresql://"),
    ])
    func badURLsAreRefusedByName(url: String, named: String) throws {
        let error = try #require(failure(url))
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains(named), "\(error.message)")
    }

    @Test func thePasswordNeverAppearsInAnError() throws {
        let error = try #require(failure("postgresql://u:hunter2@h/d?colour=blue"))
        #expect(!error.message.contains("hunter2"))
        #expect(!"\(error)".contains("hunter2"))
    }

    @Test func tlsOptionsAreKept() throws {
        let (configuration, _) = try make("postgresql://u@h/d?sslmode=verify-ca&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem")
        #expect(configuration.tls == PostgresTLSConfiguration(mode: .verifyCA, rootCertificatePath: "/ca.pem", certificatePath: "/c.pem", keyPath: "/k.pem"))
    }
}

/// Advisory keys: tooz's two bytes of MD5 (checked against Python tooz on a live server:
/// "mylock" is (200, 223)), and our int8 keys.
@Suite("PostgreSQL advisory keys")
struct PostgresAdvisoryKeyTests {
    @Test func toozKeysAreTheFirstTwoBytesOfTheNamesMD5() {
        #expect(PostgresAdvisoryKey.of(.lock("mylock"), style: .tooz) == .pair(200, 223))
        #expect(PostgresAdvisoryKey.tooz("mylock").arguments == "200::int4, 223::int4")
    }

    @Test func bigintKeysDifferForLocksAndLeadershipsOfOneName() {
        let lock = PostgresAdvisoryKey.of(.lock("x"), style: .bigint)
        let leader = PostgresAdvisoryKey.of(.leadership("x"), style: .bigint)
        #expect(lock != leader)
        #expect(PostgresAdvisoryKey.of(.leadership("x"), style: .tooz) == leader)
        guard case .single = lock else {
            Issue.record("a bigint key is one int8")
            return
        }
    }

    @Test func pgLocksShowsAnInt8KeyAsItsTwoHalves() {
        let key = PostgresAdvisoryKey.single(Int64(bitPattern: 0xFFFF_FFFE_0000_0001))
        #expect(key.pgLocksMatch == "objsubid = 1 AND classid = 4294967294::oid AND objid = 1::oid")
        #expect(PostgresAdvisoryKey.pair(-1, 7).pgLocksMatch == "objsubid = 2 AND classid = 4294967295::oid AND objid = 7::oid")
    }

    @Test func schemaNamesArePlainIdentifiers() {
        #expect(PostgresSchema.isValidName("tooz"))
        #expect(PostgresSchema.isValidName("_t00z_2"))
        #expect(!PostgresSchema.isValidName("2tooz"))
        #expect(!PostgresSchema.isValidName("Tooz"))
        #expect(!PostgresSchema.isValidName("a\"b"))
        #expect(!PostgresSchema.isValidName(""))
        #expect(!PostgresSchema.isValidName(String(repeating: "a", count: 64)))
    }
}
