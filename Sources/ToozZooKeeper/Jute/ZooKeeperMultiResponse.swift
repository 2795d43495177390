import Tooz

/// The reply to `multi` (`MultiResponse`): one result per operation, in order.
///
/// A failed multi still has a reply header with err 0: every result is then an
/// ``Result/error(_:)``, `OK` for the operations before the one that failed, its code for that
/// one, and `RUNTIMEINCONSISTENCY` for those after.
package struct ZooKeeperMultiResponse: JuteRecord, Hashable, Sendable {
    /// The outcome of one operation.
    package enum Result: Hashable, Sendable {
        case create(path: String)
        case create2(path: String, stat: ZooKeeperStat)
        case delete
        case setData(stat: ZooKeeperStat)
        case check
        case error(ZooKeeperErrorCode)

        package var opCode: ZooKeeperOpCode {
            switch self {
            case .create: .create
            case .create2: .create2
            case .delete: .delete
            case .setData: .setData
            case .check: .check
            case .error: .error
            }
        }
    }

    package var results: [Result]

    package init(results: [Result]) {
        self.results = results
    }

    /// The first failure in the results, the reason the whole multi was rolled back.
    package var firstError: ZooKeeperErrorCode? {
        for case .error(let code) in self.results where code != .ok { return code }
        return nil
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        var results: [Result] = []
        while true {
            let header = try reader.readRecord(ZooKeeperMultiHeader.self)
            if header.done { break }
            switch header.type {
            case .create:
                results.append(.create(path: try reader.readRecord(ZooKeeperCreateResponse.self).path))
            case .create2:
                let response = try reader.readRecord(ZooKeeperCreate2Response.self)
                results.append(.create2(path: response.path, stat: response.stat))
            case .delete:
                results.append(.delete)
            case .setData:
                results.append(.setData(stat: try reader.readRecord(ZooKeeperStatResponse.self).stat))
            case .check:
                results.append(.check)
            case .error:
                results.append(.error(try reader.readRecord(ZooKeeperErrorResponse.self).err))
            default:
                throw ToozError(.backendError, "malformed ZooKeeper reply: unexpected multi result type \(header.type)")
            }
        }
        self.results = results
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        for result in self.results {
            let err: ZooKeeperErrorCode
            if case .error(let code) = result { err = code } else { err = .ok }
            try writer.writeRecord(ZooKeeperMultiHeader(type: result.opCode, done: false, err: err))
            switch result {
            case .create(let path): try writer.writeRecord(ZooKeeperCreateResponse(path: path))
            case .create2(let path, let stat): try writer.writeRecord(ZooKeeperCreate2Response(path: path, stat: stat))
            case .delete, .check: break
            case .setData(let stat): try writer.writeRecord(ZooKeeperStatResponse(stat: stat))
            case .error(let code): try writer.writeRecord(ZooKeeperErrorResponse(err: code))
            }
        }
        try writer.writeRecord(ZooKeeperMultiHeader.end)
    }
}
