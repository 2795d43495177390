import Testing
import ToozMySQL

/// Expected values computed independently with Python's hashlib:
/// native = SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))),
/// sha2 = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce), for pw "tooz-secret" and nonce 1...20.
@Suite("MySQL authentication scrambles")
struct MySQLAuthTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    @Test func nativePassword() throws {
        let response = try MySQLAuthentication.response(
            plugin: "mysql_native_password", password: "tooz-secret", nonce: MySQLFixtures.nonce, secureTransport: false
        )
        #expect(Self.hex(response) == "2d867a3bd29ba338f7d7f2ba1eba60be0c88dbfc")
    }

    @Test func cachingSHA2Password() throws {
        let response = try MySQLAuthentication.response(
            plugin: "caching_sha2_password", password: "tooz-secret", nonce: MySQLFixtures.nonce, secureTransport: false
        )
        #expect(Self.hex(response) == "969b8a9a047f5fa3bfc0eee35c83e1cb7f6b1c061ad141d1d1a8ce43850467da")
    }

    @Test func emptyPasswordsSendNothing() throws {
        for plugin in ["mysql_native_password", "caching_sha2_password"] {
            #expect(try MySQLAuthentication.response(plugin: plugin, password: nil, nonce: MySQLFixtures.nonce, secureTransport: false) == [])
            #expect(try MySQLAuthentication.response(plugin: plugin, password: "", nonce: MySQLFixtures.nonce, secureTransport: false) == [])
        }
    }

    @Test func clearTextOnlyOverASecureTransport() throws {
        #expect(try MySQLAuthentication.response(plugin: "mysql_clear_password", password: "pw", nonce: [], secureTransport: true) == [0x70, 0x77, 0])
        #expect(throws: MySQLAuthenticationError.self) {
            try MySQLAuthentication.response(plugin: "mysql_clear_password", password: "pw", nonce: [], secureTransport: false)
        }
        #expect(try MySQLAuthentication.cachingSHA2FullAuthentication(password: "pw", secureTransport: true) == [0x70, 0x77, 0])
        #expect(throws: MySQLAuthenticationError.self) { try MySQLAuthentication.cachingSHA2FullAuthentication(password: "pw", secureTransport: false) }
    }

    @Test func unsupportedPluginsAreNamed() {
        for plugin in ["client_ed25519", "sha256_password", "auth_gssapi_client"] {
            #expect {
                try MySQLAuthentication.response(plugin: plugin, password: "pw", nonce: MySQLFixtures.nonce, secureTransport: true)
            } throws: { error in
                (error as? MySQLAuthenticationError)?.message.contains(plugin) == true
            }
        }
    }
}
