import Tooz

/// A znode's metadata (`org.apache.zookeeper.data.Stat`), 68 bytes on the wire.
package struct ZooKeeperStat: JuteRecord, Hashable, Sendable {
    /// The zxid of the transaction that created the node; a lock node's fencing token.
    package var czxid: Int64
    /// The zxid of the last change to the node's data.
    package var mzxid: Int64
    /// Creation time, milliseconds since the Unix epoch (server clock).
    package var ctime: Int64
    /// Last modification time, milliseconds since the Unix epoch (server clock).
    package var mtime: Int64
    /// The number of changes to the data.
    package var version: Int32
    /// The number of changes to the children.
    package var cversion: Int32
    /// The number of changes to the ACL.
    package var aversion: Int32
    /// The session that owns the node when it is ephemeral, else 0.
    package var ephemeralOwner: Int64
    package var dataLength: Int32
    package var numChildren: Int32
    /// The zxid of the last change to the children.
    package var pzxid: Int64

    /// The encoded size, used to bound vector counts before reading.
    package static let encodedSize = 68

    package init(
        czxid: Int64 = 0, mzxid: Int64 = 0, ctime: Int64 = 0, mtime: Int64 = 0, version: Int32 = 0,
        cversion: Int32 = 0, aversion: Int32 = 0, ephemeralOwner: Int64 = 0, dataLength: Int32 = 0,
        numChildren: Int32 = 0, pzxid: Int64 = 0
    ) {
        self.czxid = czxid
        self.mzxid = mzxid
        self.ctime = ctime
        self.mtime = mtime
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.ephemeralOwner = ephemeralOwner
        self.dataLength = dataLength
        self.numChildren = numChildren
        self.pzxid = pzxid
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.czxid = try reader.readLong()
        self.mzxid = try reader.readLong()
        self.ctime = try reader.readLong()
        self.mtime = try reader.readLong()
        self.version = try reader.readInt()
        self.cversion = try reader.readInt()
        self.aversion = try reader.readInt()
        self.ephemeralOwner = try reader.readLong()
        self.dataLength = try reader.readInt()
        self.numChildren = try reader.readInt()
        self.pzxid = try reader.readLong()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeLong(self.czxid)
        writer.writeLong(self.mzxid)
        writer.writeLong(self.ctime)
        writer.writeLong(self.mtime)
        writer.writeInt(self.version)
        writer.writeInt(self.cversion)
        writer.writeInt(self.aversion)
        writer.writeLong(self.ephemeralOwner)
        writer.writeInt(self.dataLength)
        writer.writeInt(self.numChildren)
        writer.writeLong(self.pzxid)
    }
}
