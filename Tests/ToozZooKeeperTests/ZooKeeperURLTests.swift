import Testing
import Tooz

@testable import ToozZooKeeper

@Suite("ZooKeeper URLs")
struct ZooKeeperURLTests {
    private typealias Server = ZooKeeperURL.Server

    private func expectInvalid(_ url: String, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ToozError.self, sourceLocation: sourceLocation) { _ = try ZooKeeperURL(parsing: url) }
        #expect(error?.code == .invalidConfiguration, sourceLocation: sourceLocation)
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "") mentions \(text)", sourceLocation: sourceLocation)
        #expect(error?.message.contains("s3cr3t") == false, sourceLocation: sourceLocation)
    }

    @Test("A plain URL takes tooz's defaults")
    func defaults() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://127.0.0.1:2181")
        #expect(url.servers == [Server(host: "127.0.0.1", port: 2181)])
        #expect(url.chroot == nil)
        #expect(url.namespace == "tooz")
        #expect(url.basePath == "/tooz")
        #expect(url.sessionTimeout == .seconds(10))
        #expect(url.configuration.operationTimeout == .seconds(10))
        #expect(url.credentials == nil)
        #expect(url.defaultACL == ZooKeeperACL.openUnsafe)
        #expect(url.authPackets.isEmpty)
        #expect(url.randomizeHosts)
        #expect(url.tls == nil)
    }

    @Test("No host at all means localhost:2181; a host without a port gets 2181")
    func defaultHostAndPort() throws {
        #expect(try ZooKeeperURL(parsing: "zookeeper://").servers == [Server(host: "localhost", port: 2181)])
        #expect(try ZooKeeperURL(parsing: "kazoo://zk1").servers == [Server(host: "zk1", port: 2181)])
        #expect(try ZooKeeperURL(parsing: "zookeeper://zk1/").servers == [Server(host: "zk1", port: 2181)])
    }

    @Test("The ensemble is the URL host then every hosts= entry, in order, without duplicates")
    func ensemble() throws {
        let url = try ZooKeeperURL(parsing: "kazoo://zk1:2181?hosts=zk2:2182&hosts=zk3,zk4:2184&hosts=zk1:2181")
        #expect(url.servers == [
            Server(host: "zk1", port: 2181), Server(host: "zk2", port: 2182), Server(host: "zk3", port: 2181),
            Server(host: "zk4", port: 2184),
        ])
        let onlyOption = try ZooKeeperURL(parsing: "zookeeper://?hosts=a:1&hosts=b:2")
        #expect(onlyOption.servers == [Server(host: "a", port: 1), Server(host: "b", port: 2)])
    }

    @Test("IPv6 servers in brackets, in the URL and in hosts=")
    func ipv6() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://[::1]:2181?hosts=[fe80::1]:2182&hosts=[::2]")
        #expect(url.servers == [
            Server(host: "::1", port: 2181), Server(host: "fe80::1", port: 2182), Server(host: "::2", port: 2181),
        ])
        #expect(url.servers[1].description == "[fe80::1]:2182")
    }

    @Test("A chroot after the last host, normalized, and path mapping through it")
    func chroot() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://zk1?hosts=zk2:2182/apps//tooz/")
        #expect(url.servers == [Server(host: "zk1", port: 2181), Server(host: "zk2", port: 2182)])
        #expect(url.chroot == "/apps/tooz")
        #expect(url.serverPath("/tooz/g") == "/apps/tooz/tooz/g")
        #expect(url.serverPath("/") == "/apps/tooz")
        #expect(url.clientPath(fromServer: "/apps/tooz/tooz/g") == "/tooz/g")
        #expect(url.clientPath(fromServer: "/apps/tooz") == "/")
        #expect(url.clientPath(fromServer: "/apps/toozzz") == nil)
        let plain = try ZooKeeperURL(parsing: "zookeeper://zk1?hosts=zk2/")
        #expect(plain.chroot == nil)
        #expect(plain.serverPath("/tooz") == "/tooz")
        #expect(plain.clientPath(fromServer: "/tooz") == "/tooz")
    }

    @Test("A chroot anywhere but after the last host is refused")
    func misplacedChroot() {
        expectInvalid("zookeeper://zk1?hosts=zk2/apps,zk3", mentioning: "last host")
        expectInvalid("zookeeper://zk1?hosts=zk2/apps&hosts=zk3", mentioning: "last host")
        expectInvalid("zookeeper://zk1?hosts=zk2/a/../b", mentioning: "relative")
    }

    @Test("Credentials turn on digest authentication and tooz's ACL, and never show")
    func credentials() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://tooz:s3cr3t@zk1:2181?timeout=30&namespace=myapp")
        #expect(url.credentials == ZooKeeperURL.Credentials(user: "tooz", password: "s3cr3t"))
        #expect(url.defaultACL == [ZooKeeperDigest.acl(user: "tooz", password: "s3cr3t")])
        #expect(url.defaultACL[0].id.id == "tooz:9Igsluv4Jhfa+JG1roj0wY2Y/g8=")
        #expect(url.authPackets == [ZooKeeperDigest.authPacket(user: "tooz", password: "s3cr3t")])
        #expect(url.sessionTimeout == .seconds(30))
        #expect(url.configuration.operationTimeout == .seconds(30))
        #expect(url.basePath == "/myapp")
        #expect(!url.description.contains("s3cr3t"))
        #expect(!String(describing: url.credentials!).contains("s3cr3t"))
        #expect(url.servers == [Server(host: "zk1", port: 2181)])
    }

    @Test("A user without a password authenticates nothing, as in tooz")
    func userWithoutPassword() throws {
        #expect(try ZooKeeperURL(parsing: "zookeeper://tooz@zk1").credentials == nil)
        #expect(try ZooKeeperURL(parsing: "zookeeper://:s3cr3t@zk1").credentials == nil)
    }

    @Test("Timeouts: decimal seconds, and the common options")
    func timeouts() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://zk1?timeout=2.5&lock_timeout=7&membership_timeout=8")
        #expect(url.sessionTimeout == .milliseconds(2500))
        #expect(url.configuration.operationTimeout == .milliseconds(2500))
        #expect(url.configuration.lockTTL == .seconds(7))
        #expect(url.configuration.membershipTTL == .seconds(8))
        expectInvalid("zookeeper://zk1?timeout=0", mentioning: "timeout")
        expectInvalid("zookeeper://zk1?timeout=soon", mentioning: "timeout")
        expectInvalid("zookeeper://zk1?timeout=3000000", mentioning: "timeout")
    }

    @Test("Nested namespaces are normalized like kazoo's paths")
    func namespaces() throws {
        #expect(try ZooKeeperURL(parsing: "zookeeper://zk1?namespace=a/b").basePath == "/a/b")
        #expect(try ZooKeeperURL(parsing: "zookeeper://zk1?namespace=/a/").basePath == "/a")
        expectInvalid("zookeeper://zk1?namespace=/", mentioning: "namespace")
        expectInvalid("zookeeper://zk1?namespace=..", mentioning: "namespace")
    }

    @Test("kazoo's options are read or accepted")
    func kazooOptions() throws {
        let url = try ZooKeeperURL(
            parsing:
                "zookeeper://zk1?randomize_hosts=false&use_ssl=true&verify_certs=no&ca=/etc/ca.pem&certfile=/c.pem&keyfile=/k.pem&keyfile_password=s3cr3t&handler=threading&connection_retry=x&command_retry=y"
        )
        #expect(!url.randomizeHosts)
        var tls = ZooKeeperURL.TLS()
        tls.verifyCertificates = false
        tls.caFile = "/etc/ca.pem"
        tls.certificateFile = "/c.pem"
        tls.keyFile = "/k.pem"
        tls.keyPassword = "s3cr3t"
        #expect(url.tls == tls)
        #expect(!String(describing: url.tls!).contains("s3cr3t"))
        #expect(try ZooKeeperURL(parsing: "zookeeper://zk1?handler=eventlet").tls == nil)
    }

    @Test("Bad values and unknown options are refused, naming them")
    func invalid() {
        expectInvalid("zookeeper://zk1?sentinel=x", mentioning: "sentinel")
        expectInvalid("zookeeper://zk1?handler=gevent", mentioning: "handler")
        expectInvalid("zookeeper://zk1?randomize_hosts=maybe", mentioning: "randomize_hosts")
        expectInvalid("zookeeper://zk1?use_ssl=false&verify_certs=perhaps", mentioning: "verify_certs")
        expectInvalid("zookeeper://zk1?hosts=zk2:99999", mentioning: "port")
        expectInvalid("zookeeper://zk1?hosts=zk2:http", mentioning: "port")
        expectInvalid("zookeeper://zk1?hosts=:2181", mentioning: "no host")
        expectInvalid("zookeeper://zk1?hosts=a,,b", mentioning: "empty")
        expectInvalid("zookeeper://zk1?hosts=[::1", mentioning: "bracket")
        expectInvalid("zookeeper://tooz:s3cr3t@zk1/chroot", mentioning: "path")
        expectInvalid("redis://zk1", mentioning: "not a ZooKeeper URL")
    }

    @Test("The description shows the ensemble, chroot and namespace")
    func description() throws {
        let url = try ZooKeeperURL(parsing: "zookeeper://u:s3cr3t@zk1:2181?hosts=[::1]:2182/apps")
        #expect(url.description == "zookeeper://zk1:2181,[::1]:2182/apps (namespace /tooz, session timeout 10.0 seconds)")
    }
}
