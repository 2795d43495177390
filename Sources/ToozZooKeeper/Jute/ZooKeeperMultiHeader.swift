import Tooz

/// The header before each operation or result of a multi (`MultiHeader`). The list ends with
/// a header whose `done` is true (type -1, err -1).
package struct ZooKeeperMultiHeader: JuteRecord, Hashable, Sendable {
    package var type: ZooKeeperOpCode
    package var done: Bool
    package var err: ZooKeeperErrorCode

    package init(type: ZooKeeperOpCode, done: Bool, err: ZooKeeperErrorCode) {
        self.type = type
        self.done = done
        self.err = err
    }

    /// The header that ends a multi request or response.
    package static let end = ZooKeeperMultiHeader(type: .error, done: true, err: ZooKeeperErrorCode(rawValue: -1))

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.type = ZooKeeperOpCode(rawValue: try reader.readInt())
        self.done = try reader.readBool()
        self.err = ZooKeeperErrorCode(rawValue: try reader.readInt())
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.type.rawValue)
        writer.writeBool(self.done)
        writer.writeInt(self.err.rawValue)
    }
}

/// An error result inside a multi response (`ErrorResponse`).
package struct ZooKeeperErrorResponse: JuteRecord, Hashable, Sendable {
    package var err: ZooKeeperErrorCode

    package init(err: ZooKeeperErrorCode) {
        self.err = err
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.err = ZooKeeperErrorCode(rawValue: try reader.readInt())
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.err.rawValue)
    }
}
