import Tooz

/// The header of every request after the handshake (`RequestHeader`).
package struct ZooKeeperRequestHeader: JuteRecord, Hashable, Sendable {
    package var xid: Int32
    package var type: ZooKeeperOpCode

    package init(xid: Int32, type: ZooKeeperOpCode) {
        self.xid = xid
        self.type = type
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.xid = try reader.readInt()
        self.type = ZooKeeperOpCode(rawValue: try reader.readInt())
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.xid)
        writer.writeInt(self.type.rawValue)
    }
}
