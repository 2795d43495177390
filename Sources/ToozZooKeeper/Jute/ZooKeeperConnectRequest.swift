import Tooz

/// The first frame a client sends on a connection (`ConnectRequest`), with no request header.
///
/// The Java client and kazoo append a `readOnly` boolean after the jute fields; servers since
/// 3.4 read it when present, so it is always written.
package struct ZooKeeperConnectRequest: JuteRecord, Hashable, Sendable {
    package var protocolVersion: Int32
    /// The highest zxid this client has seen; a server that is behind it refuses the connection.
    package var lastZxidSeen: Int64
    /// The requested session timeout in milliseconds.
    package var timeOut: Int32
    /// 0 for a new session, else the session to resume.
    package var sessionID: Int64
    /// 16 zero bytes for a new session, else the session's password.
    package var password: [UInt8]
    /// Whether the client accepts a read-only server; tooz never does.
    package var readOnly: Bool

    /// The password a new session is requested with.
    package static let newSessionPassword = [UInt8](repeating: 0, count: 16)

    package init(
        protocolVersion: Int32 = 0, lastZxidSeen: Int64, timeOut: Int32, sessionID: Int64,
        password: [UInt8], readOnly: Bool = false
    ) {
        self.protocolVersion = protocolVersion
        self.lastZxidSeen = lastZxidSeen
        self.timeOut = timeOut
        self.sessionID = sessionID
        self.password = password
        self.readOnly = readOnly
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.protocolVersion = try reader.readInt()
        self.lastZxidSeen = try reader.readLong()
        self.timeOut = try reader.readInt()
        self.sessionID = try reader.readLong()
        self.password = try reader.readBuffer() ?? []
        self.readOnly = reader.isAtEnd ? false : try reader.readBool()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.protocolVersion)
        writer.writeLong(self.lastZxidSeen)
        writer.writeInt(self.timeOut)
        writer.writeLong(self.sessionID)
        try writer.writeBuffer(self.password)
        writer.writeBool(self.readOnly)
    }
}
