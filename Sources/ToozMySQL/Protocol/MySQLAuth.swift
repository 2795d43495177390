import Crypto

/// Why the client cannot authenticate the way the server asks: an unsupported plugin, or one
/// that would send the password in clear over an insecure transport.
package struct MySQLAuthenticationError: Error, Sendable, Hashable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { self.message }
}

/// The authentication plugins' responses: pure functions of the password and the server's nonce.
package enum MySQLAuthentication {
    package static let nativePassword = "mysql_native_password"
    package static let cachingSHA2Password = "caching_sha2_password"
    package static let clearPassword = "mysql_clear_password"
    package static let ed25519 = "client_ed25519"

    /// caching_sha2_password's AuthMoreData: the scramble matched the server's cache.
    package static let fastAuthSuccess: UInt8 = 0x03
    /// caching_sha2_password's AuthMoreData: the server needs the password itself.
    package static let performFullAuthentication: UInt8 = 0x04

    /// The response `plugin` expects.
    ///
    /// - Parameters:
    ///   - password: `nil` or empty sends an empty response (a user without a password).
    ///   - nonce: the handshake's or AuthSwitchRequest's plugin data.
    ///   - secureTransport: TLS or a unix socket, where a password may travel in clear.
    package static func response(
        plugin: String,
        password: String?,
        nonce: [UInt8],
        secureTransport: Bool
    ) throws(MySQLAuthenticationError) -> [UInt8] {
        let password = Array((password ?? "").utf8)
        switch plugin {
        case Self.nativePassword:
            return password.isEmpty ? [] : self.nativePasswordScramble(password: password, nonce: nonce)
        case Self.cachingSHA2Password:
            return password.isEmpty ? [] : self.cachingSHA2Scramble(password: password, nonce: nonce)
        case Self.clearPassword:
            guard secureTransport else {
                throw MySQLAuthenticationError(
                    "the server asks for the password in clear text (mysql_clear_password), which is only sent over TLS or a unix socket"
                )
            }
            return password + [0]
        case Self.ed25519:
            throw MySQLAuthenticationError(
                "the user authenticates with MariaDB's client_ed25519 plugin, which is not supported; "
                    + "give the user mysql_native_password or caching_sha2_password"
            )
        default:
            throw MySQLAuthenticationError(
                "the server asks for the authentication plugin \(plugin.debugDescription), which is not supported "
                    + "(supported: mysql_native_password, caching_sha2_password, and mysql_clear_password over TLS or a unix socket)"
            )
        }
    }

    /// The password sent in clear for caching_sha2_password's full authentication, allowed only
    /// over a secure transport (the RSA key exchange of plain TCP is not implemented).
    package static func cachingSHA2FullAuthentication(password: String?, secureTransport: Bool) throws(MySQLAuthenticationError) -> [UInt8] {
        guard secureTransport else {
            throw MySQLAuthenticationError(
                "caching_sha2_password full authentication needs TLS (ssl_ca=…) or a unix socket: "
                    + "the server has not cached this user's password yet, and its RSA key exchange over plain TCP is not supported"
            )
        }
        return Array((password ?? "").utf8) + [0]
    }

    /// `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`, with the first 20 bytes of the nonce.
    package static func nativePasswordScramble(password: [UInt8], nonce: [UInt8]) -> [UInt8] {
        let stage1 = Array(Insecure.SHA1.hash(data: password))
        let stage2 = Array(Insecure.SHA1.hash(data: stage1))
        var hasher = Insecure.SHA1()
        hasher.update(data: nonce.prefix(20))
        hasher.update(data: stage2)
        let mask = Array(hasher.finalize())
        return zip(stage1, mask).map { $0 ^ $1 }
    }

    /// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`, with the first 20 bytes of the nonce.
    package static func cachingSHA2Scramble(password: [UInt8], nonce: [UInt8]) -> [UInt8] {
        let stage1 = Array(SHA256.hash(data: password))
        let stage2 = Array(SHA256.hash(data: stage1))
        var hasher = SHA256()
        hasher.update(data: stage2)
        hasher.update(data: nonce.prefix(20))
        let mask = Array(hasher.finalize())
        return zip(stage1, mask).map { $0 ^ $1 }
    }
}
