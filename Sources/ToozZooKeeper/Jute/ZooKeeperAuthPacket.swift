import Tooz

/// `auth` (`AuthPacket`), sent with xid -4 after each handshake. For the digest scheme the
/// `auth` bytes are `user:password` in UTF-8; the server keeps the identity for the connection.
package struct ZooKeeperAuthPacket: JuteRecord, Hashable, Sendable, CustomStringConvertible {
    /// Always 0 in every client.
    package var type: Int32
    package var scheme: String
    package var auth: [UInt8]

    package init(type: Int32 = 0, scheme: String, auth: [UInt8]) {
        self.type = type
        self.scheme = scheme
        self.auth = auth
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.type = try reader.readInt()
        self.scheme = try reader.readNonNullString()
        self.auth = try reader.readBuffer() ?? []
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.type)
        try writer.writeString(self.scheme)
        try writer.writeBuffer(self.auth)
    }

    /// Never shows the secret.
    package var description: String { "AuthPacket(scheme: \(self.scheme), auth: ***)" }
}
