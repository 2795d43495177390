import Tooz

/// `setWatches` (`SetWatches`), sent with xid -8 after reconnecting with the same session: the
/// server re-registers the watches and fires at once those whose nodes changed after
/// `relativeZxid`, so no change is missed across the reconnect.
package struct ZooKeeperSetWatches: JuteRecord, Hashable, Sendable {
    /// The last zxid the client saw.
    package var relativeZxid: Int64
    /// Paths with a data watch (from getData or an exists that found the node).
    package var dataWatches: [String]
    /// Paths with an exist watch (from an exists that found no node).
    package var existWatches: [String]
    /// Paths with a child watch (from getChildren).
    package var childWatches: [String]

    package init(relativeZxid: Int64, dataWatches: [String], existWatches: [String], childWatches: [String]) {
        self.relativeZxid = relativeZxid
        self.dataWatches = dataWatches
        self.existWatches = existWatches
        self.childWatches = childWatches
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.relativeZxid = try reader.readLong()
        self.dataWatches = try reader.readStringVector() ?? []
        self.existWatches = try reader.readStringVector() ?? []
        self.childWatches = try reader.readStringVector() ?? []
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeLong(self.relativeZxid)
        try writer.writeStringVector(self.dataWatches)
        try writer.writeStringVector(self.existWatches)
        try writer.writeStringVector(self.childWatches)
    }
}
