import Tooz

/// The server's answer to a ``ZooKeeperConnectRequest`` (`ConnectResponse`), with no reply header.
///
/// A `timeOut` of 0 or less means the session asked for has expired. Servers since 3.4 append a
/// `readOnly` boolean; it is read when present.
package struct ZooKeeperConnectResponse: JuteRecord, Hashable, Sendable {
    package var protocolVersion: Int32
    /// The negotiated session timeout in milliseconds.
    package var timeOut: Int32
    package var sessionID: Int64
    package var password: [UInt8]
    /// Whether the server is a read-only one; `nil` when the server did not say.
    package var readOnly: Bool?

    package init(protocolVersion: Int32 = 0, timeOut: Int32, sessionID: Int64, password: [UInt8], readOnly: Bool? = false) {
        self.protocolVersion = protocolVersion
        self.timeOut = timeOut
        self.sessionID = sessionID
        self.password = password
        self.readOnly = readOnly
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.protocolVersion = try reader.readInt()
        self.timeOut = try reader.readInt()
        self.sessionID = try reader.readLong()
        self.password = try reader.readBuffer() ?? []
        self.readOnly = reader.isAtEnd ? nil : try reader.readBool()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.protocolVersion)
        writer.writeInt(self.timeOut)
        writer.writeLong(self.sessionID)
        try writer.writeBuffer(self.password)
        if let readOnly = self.readOnly { writer.writeBool(readOnly) }
    }
}
