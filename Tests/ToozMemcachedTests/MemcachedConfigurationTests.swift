import Testing
import Tooz

@testable import ToozMemcached

@Suite("memcached:// URLs")
struct MemcachedConfigurationTests {
    @Test func defaultsAreToozs() throws {
        let (configuration, coordination) = try MemcachedConfiguration.make(url: BackendURL("memcached://"))
        #expect(configuration.connection.host == "localhost")
        #expect(configuration.connection.port == 11211)
        #expect(configuration.connection.tls == nil)
        #expect(coordination.membershipTTL == .seconds(30))
        #expect(coordination.lockTTL == .seconds(30))
        #expect(coordination.leaderTTL == .seconds(30))
        #expect(configuration.maximumItemSize == 1 << 20)
    }

    @Test func timeoutIsTheDefaultOfEveryTTLAndTheSocketTimeout() throws {
        let url = try BackendURL("memcached://cache:11300?timeout=10&lock_timeout=5&max_pool_size=4&item_size_max=2097152")
        let (configuration, coordination) = try MemcachedConfiguration.make(url: url)
        #expect(configuration.connection.host == "cache")
        #expect(configuration.connection.port == 11300)
        #expect(configuration.connection.commandTimeout == .seconds(10))
        #expect(configuration.connection.connectTimeout == .seconds(10))
        #expect(coordination.membershipTTL == .seconds(10))
        #expect(coordination.lockTTL == .seconds(5))
        #expect(coordination.leaderTTL == .seconds(10))
        #expect(configuration.maximumItemSize == 2 << 20)
    }

    @Test func tlsOptionsNeedUseSSL() throws {
        let url = try BackendURL("memcached://h?use_ssl=true&ca_cert=/ca.pem&ssl_cert=/c.pem&ssl_key=/k.pem&ssl_check_hostname=true")
        let tls = try #require(try MemcachedConfiguration.make(url: url).0.connection.tls)
        #expect(tls.caCertificatesPath == "/ca.pem")
        #expect(tls.certificatePath == "/c.pem")
        #expect(tls.privateKeyPath == "/k.pem")
        #expect(tls.verifiesHostname)
        #expect {
            try MemcachedConfiguration.make(url: BackendURL("memcached://h?ca_cert=/ca.pem"))
        } throws: { error in
            let error = error as! ToozError
            return error.code == .invalidConfiguration && error.message.contains("use_ssl=true")
        }
    }

    @Test(arguments: [
        "memcached://h?bogus=1", "memcached://h?timeout=-1", "memcached://h?timeout=abc", "memcached://u:secret@h",
        "memcached://h/path", "memcached://h?lock_timeout=9999999", "memcached://h?use_ssl=maybe",
        "memcached://h?item_size_max=1", "redis://h",
    ])
    func badURLsAreClearErrorsWithoutThePassword(_ text: String) throws {
        #expect {
            try MemcachedConfiguration.make(url: BackendURL(text))
        } throws: { error in
            let error = error as! ToozError
            return error.code == .invalidConfiguration && !error.message.contains("secret")
        }
    }
}
