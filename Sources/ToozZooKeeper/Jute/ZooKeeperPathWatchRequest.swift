import Tooz

/// The body shared by `exists`, `getData` and `getChildren2`: a path and whether to leave a
/// one-shot watch on it.
package struct ZooKeeperPathWatchRequest: JuteRecord, Hashable, Sendable {
    package var path: String
    package var watch: Bool

    package init(path: String, watch: Bool = false) {
        self.path = path
        self.watch = watch
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.watch = try reader.readBool()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        writer.writeBool(self.watch)
    }
}

/// `exists` (`ExistsRequest`): a stat, or `NONODE`; with a watch, an exist watch is left even
/// when the node is missing.
package typealias ZooKeeperExistsRequest = ZooKeeperPathWatchRequest
/// `getData` (`GetDataRequest`).
package typealias ZooKeeperGetDataRequest = ZooKeeperPathWatchRequest
/// `getChildren2` (`GetChildren2Request`): the children and the parent's stat.
package typealias ZooKeeperGetChildren2Request = ZooKeeperPathWatchRequest
