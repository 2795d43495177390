import Tooz

/// The reply to `getChildren2` (`GetChildren2Response`): child names (not paths) and the
/// parent's stat.
package struct ZooKeeperGetChildren2Response: JuteRecord, Hashable, Sendable {
    package var children: [String]
    package var stat: ZooKeeperStat

    package init(children: [String], stat: ZooKeeperStat) {
        self.children = children
        self.stat = stat
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.children = try reader.readStringVector() ?? []
        self.stat = try reader.readRecord()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeStringVector(self.children)
        try writer.writeRecord(self.stat)
    }
}
