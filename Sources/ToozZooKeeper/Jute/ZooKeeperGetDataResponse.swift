import Tooz

/// The reply to `getData` (`GetDataResponse`). A node created with null data reads as empty.
package struct ZooKeeperGetDataResponse: JuteRecord, Hashable, Sendable {
    package var data: [UInt8]
    package var stat: ZooKeeperStat

    package init(data: [UInt8], stat: ZooKeeperStat) {
        self.data = data
        self.stat = stat
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.data = try reader.readBuffer() ?? []
        self.stat = try reader.readRecord()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeBuffer(self.data)
        try writer.writeRecord(self.stat)
    }
}
