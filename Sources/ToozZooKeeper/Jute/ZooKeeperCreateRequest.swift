import Tooz

/// `create` and `create2` (`CreateRequest`): the same body; create2 answers with the new
/// node's ``ZooKeeperStat`` as well.
package struct ZooKeeperCreateRequest: JuteRecord, Hashable, Sendable {
    package var path: String
    package var data: [UInt8]
    package var acl: [ZooKeeperACL]
    package var mode: ZooKeeperCreateMode

    package init(path: String, data: [UInt8] = [], acl: [ZooKeeperACL] = ZooKeeperACL.openUnsafe, mode: ZooKeeperCreateMode) {
        self.path = path
        self.data = data
        self.acl = acl
        self.mode = mode
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.data = try reader.readBuffer() ?? []
        self.acl = try reader.readACLs() ?? []
        let flags = try reader.readInt()
        guard let mode = ZooKeeperCreateMode(rawValue: flags) else {
            throw ToozError(.backendError, "malformed ZooKeeper create request: unsupported create flags \(flags)")
        }
        self.mode = mode
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        try writer.writeBuffer(self.data)
        try writer.writeACLs(self.acl)
        writer.writeInt(self.mode.rawValue)
    }
}

/// The reply to `create` (`CreateResponse`): the created path, with the sequence suffix for a
/// sequential node.
package struct ZooKeeperCreateResponse: JuteRecord, Hashable, Sendable {
    package var path: String

    package init(path: String) {
        self.path = path
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
    }
}

/// The reply to `create2` (`Create2Response`): the created path and the node's stat, whose
/// `czxid` is the fencing token of a lock node.
package struct ZooKeeperCreate2Response: JuteRecord, Hashable, Sendable {
    package var path: String
    package var stat: ZooKeeperStat

    package init(path: String, stat: ZooKeeperStat) {
        self.path = path
        self.stat = stat
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.stat = try reader.readRecord()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        try writer.writeRecord(self.stat)
    }
}
