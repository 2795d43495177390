import Tooz

/// `delete` (`DeleteRequest`). Version -1 deletes whatever the version; the reply has no body.
package struct ZooKeeperDeleteRequest: JuteRecord, Hashable, Sendable {
    package var path: String
    package var version: Int32

    package init(path: String, version: Int32 = -1) {
        self.path = path
        self.version = version
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.version = try reader.readInt()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        writer.writeInt(self.version)
    }
}

/// `check` inside a multi (`CheckVersionRequest`): fails the transaction unless the node has
/// `version` (-1: unless the node exists).
package struct ZooKeeperCheckVersionRequest: JuteRecord, Hashable, Sendable {
    package var path: String
    package var version: Int32

    package init(path: String, version: Int32) {
        self.path = path
        self.version = version
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.version = try reader.readInt()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        writer.writeInt(self.version)
    }
}
