import Tooz

/// `setData` (`SetDataRequest`). Version -1 overwrites whatever the version.
package struct ZooKeeperSetDataRequest: JuteRecord, Hashable, Sendable {
    package var path: String
    package var data: [UInt8]
    package var version: Int32

    package init(path: String, data: [UInt8], version: Int32 = -1) {
        self.path = path
        self.data = data
        self.version = version
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.path = try reader.readNonNullString()
        self.data = try reader.readBuffer() ?? []
        self.version = try reader.readInt()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.path)
        try writer.writeBuffer(self.data)
        writer.writeInt(self.version)
    }
}
