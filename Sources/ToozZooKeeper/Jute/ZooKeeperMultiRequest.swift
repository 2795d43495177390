import Tooz

/// `multi` (`MultiOperationRecord`): operations applied atomically, all or none.
///
/// Each operation is a ``ZooKeeperMultiHeader`` (its op code, `done` false, err -1) followed by
/// its request body; an ``ZooKeeperMultiHeader/end`` header closes the list.
package struct ZooKeeperMultiRequest: JuteRecord, Hashable, Sendable {
    /// One operation of a multi.
    package enum Operation: Hashable, Sendable {
        /// Answered with the created path.
        case create(ZooKeeperCreateRequest)
        /// Answered with the created path and stat.
        case create2(ZooKeeperCreateRequest)
        case delete(ZooKeeperDeleteRequest)
        case setData(ZooKeeperSetDataRequest)
        case check(ZooKeeperCheckVersionRequest)

        package var opCode: ZooKeeperOpCode {
            switch self {
            case .create: .create
            case .create2: .create2
            case .delete: .delete
            case .setData: .setData
            case .check: .check
            }
        }
    }

    package var operations: [Operation]

    package init(operations: [Operation]) {
        self.operations = operations
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        var operations: [Operation] = []
        while true {
            let header = try reader.readRecord(ZooKeeperMultiHeader.self)
            if header.done { break }
            switch header.type {
            case .create: operations.append(.create(try reader.readRecord()))
            case .create2: operations.append(.create2(try reader.readRecord()))
            case .delete: operations.append(.delete(try reader.readRecord()))
            case .setData: operations.append(.setData(try reader.readRecord()))
            case .check: operations.append(.check(try reader.readRecord()))
            default:
                throw ToozError(.backendError, "malformed ZooKeeper multi request: unsupported operation \(header.type)")
            }
        }
        self.operations = operations
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        for operation in self.operations {
            try writer.writeRecord(ZooKeeperMultiHeader(type: operation.opCode, done: false, err: ZooKeeperErrorCode(rawValue: -1)))
            switch operation {
            case .create(let request), .create2(let request): try writer.writeRecord(request)
            case .delete(let request): try writer.writeRecord(request)
            case .setData(let request): try writer.writeRecord(request)
            case .check(let request): try writer.writeRecord(request)
            }
        }
        try writer.writeRecord(ZooKeeperMultiHeader.end)
    }
}
