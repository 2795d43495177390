import Tooz

/// A reply that is only a stat: `exists` (`ExistsResponse`) and `setData` (`SetDataResponse`).
package struct ZooKeeperStatResponse: JuteRecord, Hashable, Sendable {
    package var stat: ZooKeeperStat

    package init(stat: ZooKeeperStat) {
        self.stat = stat
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.stat = try reader.readRecord()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeRecord(self.stat)
    }
}

/// `ExistsResponse`.
package typealias ZooKeeperExistsResponse = ZooKeeperStatResponse
/// `SetDataResponse`.
package typealias ZooKeeperSetDataResponse = ZooKeeperStatResponse
