#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tooz

/// ZooKeeper's `digest` authentication scheme, as kazoo and tooz use it.
///
/// When a tooz URL has a user and a password, kazoo authenticates every connection with
/// `auth_data=[("digest", "user:pass")]` and creates every node with the ACL
/// `make_digest_acl(user, pass, all=True)`. Producing the same ACL id is what lets Python and
/// Swift members of one fleet read and write each other's nodes.
package enum ZooKeeperDigest {
    /// The ACL identity of `user` with `password`: `user:base64(sha1("user:password"))`
    /// (ZooKeeper's `DigestAuthenticationProvider.generateDigest`, kazoo's
    /// `make_digest_acl_credential`).
    package static func id(user: String, password: String) -> String {
        let digest = SHA1.hash(Array("\(user):\(password)".utf8))
        return user + ":" + Data(digest).base64EncodedString()
    }

    /// The ACL tooz puts on every node it creates when the URL has credentials: all
    /// permissions for the digest identity, and nothing for anyone else.
    package static func acl(user: String, password: String, permissions: ZooKeeperACL.Permissions = .all) -> ZooKeeperACL {
        ZooKeeperACL(permissions: permissions, id: ZooKeeperID(scheme: "digest", id: self.id(user: user, password: password)))
    }

    /// The authentication packet sent after each handshake: scheme `digest`, the clear
    /// `user:password` as the auth bytes (the server computes the digest itself).
    package static func authPacket(user: String, password: String) -> ZooKeeperAuthPacket {
        ZooKeeperAuthPacket(scheme: "digest", auth: Array("\(user):\(password)".utf8))
    }
}
