import NIOCore

/// The server's first packet, Handshake v10.
package struct MySQLHandshake: Sendable, Hashable {
    package var protocolVersion: UInt8
    /// `8.0.36`, `10.11.6-MariaDB-0+deb12u1`, ...
    package var serverVersion: String
    /// The session's thread id: what `CONNECTION_ID()` returns, and `KILL` takes.
    package var connectionID: UInt32
    /// The nonce the password scrambles use (parts 1 and 2, without the trailing NUL): 20 bytes.
    package var authPluginData: [UInt8]
    package var capabilities: MySQLCapabilities
    package var characterSet: UInt8
    package var statusFlags: UInt16
    /// The server's default authentication plugin; `nil` without `CLIENT_PLUGIN_AUTH`.
    package var authPluginName: String?

    package init(
        protocolVersion: UInt8 = 10,
        serverVersion: String,
        connectionID: UInt32,
        authPluginData: [UInt8],
        capabilities: MySQLCapabilities,
        characterSet: UInt8,
        statusFlags: UInt16,
        authPluginName: String?
    ) {
        self.protocolVersion = protocolVersion
        self.serverVersion = serverVersion
        self.connectionID = connectionID
        self.authPluginData = authPluginData
        self.capabilities = capabilities
        self.characterSet = characterSet
        self.statusFlags = statusFlags
        self.authPluginName = authPluginName
    }

    /// Parses a Handshake v10 payload. MariaDB's extended capabilities in the reserved bytes
    /// are ignored.
    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        self.protocolVersion = try buffer.mysqlReadInteger("the protocol version")
        guard self.protocolVersion == 10 else {
            throw MySQLDecodingError(
                .malformed,
                "the server speaks handshake protocol version \(self.protocolVersion); only version 10 (MySQL ≥ 4.1, MariaDB) is supported"
            )
        }
        self.serverVersion = try buffer.mysqlReadNullTerminatedString("the server version")
        self.connectionID = try buffer.mysqlReadInteger("the connection id")
        var nonce = try buffer.mysqlReadBytes(length: 8, "the auth plugin data")
        try buffer.mysqlSkip(1, "the filler")
        let lowCapabilities = try buffer.mysqlReadInteger(as: UInt16.self, "the capability flags")
        self.capabilities = MySQLCapabilities(rawValue: UInt32(lowCapabilities))
        self.characterSet = 0
        self.statusFlags = 0
        self.authPluginName = nil
        guard buffer.readableBytes > 0 else {
            self.authPluginData = nonce
            return
        }
        self.characterSet = try buffer.mysqlReadInteger("the character set")
        self.statusFlags = try buffer.mysqlReadInteger("the status flags")
        let highCapabilities = try buffer.mysqlReadInteger(as: UInt16.self, "the upper capability flags")
        self.capabilities = MySQLCapabilities(rawValue: UInt32(lowCapabilities) | UInt32(highCapabilities) << 16)
        let authDataLength: UInt8 = try buffer.mysqlReadInteger("the auth plugin data length")
        try buffer.mysqlSkip(10, "the reserved bytes")
        if self.capabilities.contains(.secureConnection) {
            let length = max(13, Int(authDataLength) - 8)
            var part2 = try buffer.mysqlReadBytes(length: length, "the auth plugin data part 2")
            if part2.last == 0 { part2.removeLast() }
            nonce += part2
        }
        self.authPluginData = nonce
        if self.capabilities.contains(.pluginAuth) {
            self.authPluginName = try buffer.mysqlReadNullTerminatedString("the auth plugin name")
        }
    }
}

/// The client's answer to the handshake, HandshakeResponse41, and its first 32 bytes alone,
/// the SSLRequest that asks to switch to TLS.
package struct MySQLHandshakeResponse: Sendable, Hashable {
    package var capabilities: MySQLCapabilities
    package var maximumPacketSize: UInt32
    package var characterSet: UInt8
    package var username: String
    package var authResponse: [UInt8]
    package var database: String?
    package var authPluginName: String?

    package init(
        capabilities: MySQLCapabilities,
        maximumPacketSize: UInt32 = MySQLProtocol.clientMaximumPacketSize,
        characterSet: UInt8 = MySQLProtocol.utf8mb4GeneralCI,
        username: String,
        authResponse: [UInt8],
        database: String?,
        authPluginName: String?
    ) {
        self.capabilities = capabilities
        self.maximumPacketSize = maximumPacketSize
        self.characterSet = characterSet
        self.username = username
        self.authResponse = authResponse
        self.database = database
        self.authPluginName = authPluginName
    }

    /// The SSLRequest payload: capabilities (with `CLIENT_SSL`), packet size, character set, filler.
    package func encodeSSLRequest() -> ByteBuffer {
        var buffer = ByteBuffer()
        self.writeFixedPart(into: &buffer)
        return buffer
    }

    /// The HandshakeResponse41 payload.
    package func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        self.writeFixedPart(into: &buffer)
        buffer.mysqlWriteNullTerminated(self.username.utf8)
        if self.capabilities.contains(.pluginAuthLengthEncodedClientData) {
            buffer.mysqlWriteLengthEncodedBytes(self.authResponse)
        } else {
            // Scrambles are 20 or 32 bytes, so the length fits in one byte.
            buffer.writeInteger(UInt8(truncatingIfNeeded: self.authResponse.count))
            buffer.writeBytes(self.authResponse.prefix(255))
        }
        if self.capabilities.contains(.connectWithDB) {
            buffer.mysqlWriteNullTerminated((self.database ?? "").utf8)
        }
        if self.capabilities.contains(.pluginAuth) {
            buffer.mysqlWriteNullTerminated((self.authPluginName ?? "").utf8)
        }
        return buffer
    }

    private func writeFixedPart(into buffer: inout ByteBuffer) {
        buffer.writeInteger(self.capabilities.rawValue, endianness: .little)
        buffer.writeInteger(self.maximumPacketSize, endianness: .little)
        buffer.writeInteger(self.characterSet)
        buffer.writeRepeatingByte(0, count: 23)
    }
}
