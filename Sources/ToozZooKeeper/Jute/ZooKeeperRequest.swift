import NIOCore
import Tooz

/// A request a user of the session sends, with a positive xid the session assigns.
///
/// Pings, authentication, setWatches and the handshake are the session's own business and are
/// not requests.
package enum ZooKeeperRequest: Hashable, Sendable {
    /// Answered with ``ZooKeeperResponse/created(path:)``.
    case create(ZooKeeperCreateRequest)
    /// Answered with ``ZooKeeperResponse/created2(_:)`` (the path and the stat).
    case create2(ZooKeeperCreateRequest)
    /// Answered with ``ZooKeeperResponse/deleted``.
    case delete(ZooKeeperDeleteRequest)
    /// Answered with ``ZooKeeperResponse/stat(_:)``, or `NONODE`.
    case exists(ZooKeeperExistsRequest)
    /// Answered with ``ZooKeeperResponse/data(_:)``.
    case getData(ZooKeeperGetDataRequest)
    /// Answered with ``ZooKeeperResponse/stat(_:)``.
    case setData(ZooKeeperSetDataRequest)
    /// Answered with ``ZooKeeperResponse/children(_:)``.
    case getChildren2(ZooKeeperGetChildren2Request)
    /// Answered with ``ZooKeeperResponse/multi(_:)``, even when an operation failed.
    case multi(ZooKeeperMultiRequest)

    package var opCode: ZooKeeperOpCode {
        switch self {
        case .create: .create
        case .create2: .create2
        case .delete: .delete
        case .exists: .exists
        case .getData: .getData
        case .setData: .setData
        case .getChildren2: .getChildren2
        case .multi: .multi
        }
    }

    /// The watch this request leaves when it succeeds, if it asks for one.
    package var watchPath: String? {
        switch self {
        case .exists(let request), .getData(let request), .getChildren2(let request):
            request.watch ? request.path : nil
        case .create, .create2, .delete, .setData, .multi:
            nil
        }
    }

    /// Writes the request header and the body.
    package func encode(xid: Int32, to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeRecord(ZooKeeperRequestHeader(xid: xid, type: self.opCode))
        switch self {
        case .create(let body), .create2(let body): try writer.writeRecord(body)
        case .delete(let body): try writer.writeRecord(body)
        case .exists(let body), .getData(let body), .getChildren2(let body): try writer.writeRecord(body)
        case .setData(let body): try writer.writeRecord(body)
        case .multi(let body): try writer.writeRecord(body)
        }
    }

    /// The whole frame: length prefix, header and body.
    package func frame(xid: Int32, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(ToozError) -> ByteBuffer {
        try JuteWriter.frame(allocator: allocator) { (writer) throws(ToozError) in try self.encode(xid: xid, to: &writer) }
    }
}

/// A successful reply to a ``ZooKeeperRequest``, decoded according to the request it answers.
package enum ZooKeeperResponse: Hashable, Sendable {
    case created(path: String)
    case created2(ZooKeeperCreate2Response)
    case deleted
    /// The stat of `exists` or `setData`.
    case stat(ZooKeeperStat)
    case data(ZooKeeperGetDataResponse)
    case children(ZooKeeperGetChildren2Response)
    case multi(ZooKeeperMultiResponse)

    /// Reads the body that follows a reply header with err 0, for a request of type `opCode`,
    /// and checks that the frame holds nothing more.
    package static func decode(for opCode: ZooKeeperOpCode, from reader: inout JuteReader) throws(ToozError) -> ZooKeeperResponse {
        let response: ZooKeeperResponse
        switch opCode {
        case .create: response = .created(path: try reader.readRecord(ZooKeeperCreateResponse.self).path)
        case .create2: response = .created2(try reader.readRecord())
        case .delete: response = .deleted
        case .exists, .setData: response = .stat(try reader.readRecord(ZooKeeperStatResponse.self).stat)
        case .getData: response = .data(try reader.readRecord())
        case .getChildren2: response = .children(try reader.readRecord())
        case .multi: response = .multi(try reader.readRecord())
        default:
            throw ToozError(.backendError, "no reply decoder for ZooKeeper op \(opCode)")
        }
        try reader.expectEnd(of: "\(opCode) reply")
        return response
    }
}
