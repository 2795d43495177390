import NIOCore
import Testing
import Tooz
@testable import ToozRedis

@Suite("Redis URL configuration")
struct RedisConfigurationTests {
    private func make(_ url: String) throws -> (RedisConfiguration, CoordinatorConfiguration) {
        try RedisConfiguration.make(url: BackendURL(url))
    }

    @Test func hostPortAndTooz30SecondDefaults() throws {
        let (redis, coordination) = try make("redis://127.0.0.1:6390")
        #expect(redis.servers == .direct(.tcp(host: "127.0.0.1", port: 6390)))
        #expect(redis.namespace == "_tooz")
        #expect(coordination.membershipTTL == .seconds(30))
        #expect(coordination.lockTTL == .seconds(30))
        #expect(coordination.leaderTTL == .seconds(30))
        #expect(redis.connection.commandTimeout == .seconds(30))
        #expect(redis.connection.tls == nil)
        #expect(redis.connection.password == nil)
    }

    @Test func defaultPortIs6379() throws {
        #expect(try make("redis://localhost").0.servers == .direct(.tcp(host: "localhost", port: 6379)))
    }

    @Test func timeoutSetsEveryTTLAndTheCommandTimeoutUnlessOverridden() throws {
        let (redis, coordination) = try make("redis://h?timeout=5&lock_timeout=2&socket_timeout=1.5")
        #expect(coordination.membershipTTL == .seconds(5))
        #expect(coordination.leaderTTL == .seconds(5))
        #expect(coordination.lockTTL == .seconds(2))
        #expect(redis.connection.commandTimeout == .milliseconds(1500))
    }

    @Test func credentialsDatabaseAndNamespace() throws {
        let (redis, _) = try make("redis://alice:s%40cret@h:1?db=3&namespace=ns")
        #expect(redis.connection.username == "alice")
        #expect(redis.connection.password == "s@cret")
        #expect(redis.connection.database == 3)
        #expect(redis.namespace == "ns")
    }

    @Test func passwordWithoutUserName() throws {
        let (redis, _) = try make("redis://:pw@h")
        #expect(redis.connection.username == nil)
        #expect(redis.connection.password == "pw")
    }

    @Test func unixSocketPath() throws {
        #expect(try make("redis:///run/redis/redis.sock").0.servers == .direct(.unixSocket(path: "/run/redis/redis.sock")))
    }

    @Test func tlsOptions() throws {
        let (redis, _) = try make("redis://h?ssl=true&ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem")
        #expect(redis.connection.tls == RedisTLSConfiguration(caCertificatesPath: "/ca.pem", certificatePath: "/c.pem", privateKeyPath: "/k.pem"))
        #expect(redis.sentinelConnection.tls == nil)
    }

    @Test func sentinelWithFallbacksAndSeparateCredentials() throws {
        let (redis, _) = try make(
            "redis://m:pw@s1:26380?sentinel=mymaster&sentinel_fallback=s2:26381&sentinel_fallback=[::1]:26382&sentinel_fallback=s4&sentinel_password=spw"
        )
        #expect(
            redis.servers
                == .sentinel(
                    masterName: "mymaster",
                    sentinels: [
                        .tcp(host: "s1", port: 26380), .tcp(host: "s2", port: 26381), .tcp(host: "::1", port: 26382),
                        .tcp(host: "s4", port: 26379),
                    ]
                )
        )
        #expect(redis.connection.password == "pw")
        #expect(redis.sentinelConnection.password == "spw")
        #expect(redis.sentinelConnection.username == nil)
    }

    @Test(arguments: [
        ("redis://h?bogus=1", "bogus"),
        ("redis://h?db=x", "db"),
        ("redis://h?timeout=-1", "timeout"),
        ("redis://h?encoding=latin1", "encoding"),
        ("redis://h?ssl_ca_certs=/ca.pem", "ssl=true"),
        ("redis://h?ssl=true&ssl_certfile=/c.pem", "ssl_keyfile"),
        ("redis://h?sentinel_fallback=x:1", "sentinel="),
        ("redis://h?sentinel=m&sentinel_fallback=a:b:c", "sentinel_fallback"),
        ("redis://h/2", "db=N"),
        ("redis://", "names no server"),
        ("redis://h?socket_keepalive=maybe", "socket_keepalive"),
    ])
    func badURLsAreInvalidConfigurationNamingTheProblem(url: String, mention: String) throws {
        let error = #expect(throws: ToozError.self) { try make(url) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(mention) == true, "\(error?.message ?? "")")
    }

    @Test func passwordsNeverAppearInErrors() throws {
        let error = #expect(throws: ToozError.self) { try make("redis://u:hunter2@h?bogus=1") }
        #expect(error.map { !"\($0)".contains("hunter2") } == true)
    }

    @Test func keyLayoutIsTooz() {
        let keys = RedisKeys(namespace: "_tooz")
        #expect(keys.groups == "_tooz_groups")
        #expect(keys.group("g") == "_tooz_group:g")
        #expect(keys.beat("m") == "_tooz_beats:m")
        #expect(keys.lock(.lock("x")) == "_tooz_x_lock")
        #expect(keys.lock(.leadership("g")) == "_tooz_leader_of_g_lock")
        #expect(keys.fencing == "_tooz_fencing")
    }

    @Test func aLockValueCarriesItsHolderAndAPythonTokenNamesNone() {
        let value = RedisBackend.lockValue(of: LockOwner(member: "worker 7", token: "0123abcd"))
        #expect(value == "0123abcd worker 7")
        #expect(RedisBackend.holder(inLockValue: value) == "worker 7")
        // redis-py's token: uuid1().hex, no member.
        #expect(RedisBackend.holder(inLockValue: "5f1c2b3a4d5e11efb0a2d9c3e1f00aa1") == nil)
        #expect(RedisBackend.holder(inLockValue: "token ") == nil)
    }

    @Test func sentinelReplyParsing() throws {
        let good = RESPValue.array([.bulkString(.init(string: "10.0.0.1")), .bulkString(.init(string: "6380"))])
        #expect(try RedisSentinelDiscovery.masterAddress(from: good, masterName: "m") == .tcp(host: "10.0.0.1", port: 6380))
        let unknown = #expect(throws: ToozError.self) { try RedisSentinelDiscovery.masterAddress(from: .bulkString(nil), masterName: "m") }
        #expect(unknown?.code == .invalidConfiguration)
        let garbled = #expect(throws: ToozError.self) {
            try RedisSentinelDiscovery.masterAddress(from: .array([.integer(1)]), masterName: "m")
        }
        #expect(garbled?.code == .backendError)
    }

    @Test func scriptsAreNamedByTheirSHA1() {
        // redis-cli SCRIPT LOAD "return 1" prints this digest.
        #expect(RedisScript(name: "t", source: "return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
