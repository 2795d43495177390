import Testing
import Tooz

@testable import ToozEtcd

@Suite("etcd URLs")
struct EtcdConfigurationTests {
    private func make(_ url: String) throws(ToozError) -> (EtcdConfiguration, CoordinatorConfiguration) {
        try EtcdConfiguration.make(url: try BackendURL(url))
    }

    @Test func defaultsAreToozs() throws {
        let (configuration, coordination) = try make("etcd3+http://")
        #expect(configuration.client.endpoints == [.init(host: "localhost", port: 2379)])
        #expect(configuration.client.tls == nil)
        #expect(coordination.lockTTL == .seconds(30))
        #expect(coordination.membershipTTL == .seconds(30))
        #expect(configuration.sessionTTL == .seconds(30))
    }

    @Test func timeoutsEndpointsAndCredentials() throws {
        let (configuration, coordination) = try make(
            "etcd://alice:s3cret@10.0.0.1:2400?timeout=12&lock_timeout=5&membership_timeout=7&api_version=v3&endpoints=10.0.0.2:2401,[::1]:2402,10.0.0.1:2400"
        )
        #expect(configuration.client.endpoints.map(\.description) == ["10.0.0.1:2400", "10.0.0.2:2401", "[::1]:2402"])
        #expect(configuration.client.operationTimeout == .seconds(12))
        #expect(coordination.lockTTL == .seconds(5))
        #expect(coordination.membershipTTL == .seconds(7))
        #expect(configuration.sessionTTL == .seconds(5))
        #expect(configuration.client.credentials?.user == "alice")
        #expect(configuration.client.credentials?.password == "s3cret")
    }

    @Test func fractionalTTLsRoundUpToWholeSeconds() throws {
        let (configuration, _) = try make("etcd3+http://h?lock_timeout=2.5")
        #expect(configuration.sessionTTL == .seconds(3))
    }

    @Test(arguments: [
        ("etcd3+http://h?bogus=1", "bogus"),
        ("etcd3+http://h/path", "path"),
        ("etcd3+http://h?api_version=v4", "api_version"),
        ("etcd3+http://h?ca_cert=/x", "ca_cert"),
        ("etcd3+http://h?lock_timeout=1", "too short"),
        ("etcd3+http://h?endpoints=a:0", "port"),
        ("etcd3+http://h?endpoints=a:99999", "port"),
        ("etcd3+http://h?endpoints=[::1", "bracket"),
        ("etcd3+http://h?endpoints=a/b", "HOST"),
        ("etcd3+http://h?endpoints=,", "no host"),
        ("etcd3+http://alice@h", "user and a password"),
        ("etcd3+https://h?ca_cert=/nonexistent/ca.pem", "TLS files"),
    ])
    func badURLsAreInvalidConfiguration(url: String, mentions: String) {
        do {
            _ = try make(url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(mentions), "\(error.message)")
        }
    }

    @Test func thePasswordNeverAppearsInErrors() {
        do {
            _ = try make("etcd3+http://alice:hunter2@h?bogus=1")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}

@Suite("etcd key layout")
struct EtcdKeysTests {
    @Test func keysAreEtcd3gws() {
        #expect(EtcdKeys.group("g1") == Array("tooz/groups/g1/".utf8))
        #expect(EtcdKeys.member("m", of: "g1") == Array("tooz/groups/g1/m".utf8))
        #expect(EtcdKeys.lock(.lock(LockName("x"))) == Array("/tooz/locksx".utf8))
        #expect(EtcdKeys.lock(.leadership("g1")) == Array("/tooz/leaders/g1".utf8))
    }

    @Test func prefixRangeEnds() {
        #expect(EtcdKeys.rangeEnd(ofPrefix: Array("ab/".utf8)) == Array("ab0".utf8))
        #expect(EtcdKeys.rangeEnd(ofPrefix: [0x61, 0xFF]) == [0x62])
        #expect(EtcdKeys.rangeEnd(ofPrefix: [0xFF, 0xFF]) == [0])
        let members = EtcdKeys.memberRange(of: "g")
        #expect(members.key == Array("tooz/groups/g/".utf8) + [0])
        #expect(members.rangeEnd == Array("tooz/groups/g0".utf8))
    }
}

@Suite("etcd lock values")
struct EtcdLockValueTests {
    @Test func onlyOurFormatNamesAHolder() {
        let token = Array(String(repeating: "0a", count: 16).utf8)
        #expect(EtcdBackend.member(inLockValue: Array("worker-1".utf8) + [0] + token) == "worker-1")
        // Python's 16 random bytes, a bare member id, a short or non-hex token, an empty member.
        #expect(EtcdBackend.member(inLockValue: [0x8F, 0x00, 0x41] + Array(repeating: 0x61, count: 13)) == nil)
        #expect(EtcdBackend.member(inLockValue: Array("worker-1".utf8)) == nil)
        #expect(EtcdBackend.member(inLockValue: Array("w".utf8) + [0] + Array("abc".utf8)) == nil)
        #expect(EtcdBackend.member(inLockValue: Array("w".utf8) + [0] + Array(String(repeating: "zz", count: 16).utf8)) == nil)
        #expect(EtcdBackend.member(inLockValue: [0] + token) == nil)
    }
}
