import Tooz

/// The header of every reply after the handshake (`ReplyHeader`). A non-zero `err` means no
/// body follows (multi is the exception: its failures are inside the body).
package struct ZooKeeperReplyHeader: JuteRecord, Hashable, Sendable {
    package var xid: Int32
    /// The last zxid the server had processed; -1 on notifications.
    package var zxid: Int64
    package var err: ZooKeeperErrorCode

    package init(xid: Int32, zxid: Int64, err: ZooKeeperErrorCode = .ok) {
        self.xid = xid
        self.zxid = zxid
        self.err = err
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.xid = try reader.readInt()
        self.zxid = try reader.readLong()
        self.err = ZooKeeperErrorCode(rawValue: try reader.readInt())
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.xid)
        writer.writeLong(self.zxid)
        writer.writeInt(self.err.rawValue)
    }
}
