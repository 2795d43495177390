import Testing

@testable import ToozZooKeeper

@Suite("ZooKeeper digest authentication")
struct ZooKeeperDigestTests {
    /// Expected values from Python: `user + ":" + base64.b64encode(hashlib.sha1(b"user:pass").digest())`.
    @Test(
        "The digest ACL id matches kazoo's make_digest_acl_credential",
        arguments: [
            ("user", "pass", "user:smGaoVKd/cQkjm7b88GyorAUz20="),
            ("tooz", "s3cr3t", "tooz:9Igsluv4Jhfa+JG1roj0wY2Y/g8="),
            ("super", "", "super:ntK0uRI/TdJ1mOFJMdWc5P3hDBU="),
        ]
    )
    func digestID(user: String, password: String, expected: String) {
        #expect(ZooKeeperDigest.id(user: user, password: password) == expected)
    }

    @Test("The ACL grants everything to the digest identity; the auth packet carries user:password")
    func aclAndAuth() {
        let acl = ZooKeeperDigest.acl(user: "user", password: "pass")
        #expect(acl.permissions == .all)
        #expect(acl.permissions.rawValue == 31)
        #expect(acl.id == ZooKeeperID(scheme: "digest", id: "user:smGaoVKd/cQkjm7b88GyorAUz20="))
        let packet = ZooKeeperDigest.authPacket(user: "user", password: "pass")
        #expect(packet.type == 0 && packet.scheme == "digest" && packet.auth == Array("user:pass".utf8))
    }
}
