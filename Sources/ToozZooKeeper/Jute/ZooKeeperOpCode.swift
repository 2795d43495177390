/// The `type` of a ZooKeeper request header (`ZooDefs.OpCode`).
///
/// An open set: a value the client does not name still round-trips, and ``name`` says so.
package struct ZooKeeperOpCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: Int32

    package init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    package static let notification = ZooKeeperOpCode(rawValue: 0)
    package static let create = ZooKeeperOpCode(rawValue: 1)
    package static let delete = ZooKeeperOpCode(rawValue: 2)
    package static let exists = ZooKeeperOpCode(rawValue: 3)
    package static let getData = ZooKeeperOpCode(rawValue: 4)
    package static let setData = ZooKeeperOpCode(rawValue: 5)
    package static let getACL = ZooKeeperOpCode(rawValue: 6)
    package static let setACL = ZooKeeperOpCode(rawValue: 7)
    package static let getChildren = ZooKeeperOpCode(rawValue: 8)
    package static let sync = ZooKeeperOpCode(rawValue: 9)
    package static let ping = ZooKeeperOpCode(rawValue: 11)
    package static let getChildren2 = ZooKeeperOpCode(rawValue: 12)
    package static let check = ZooKeeperOpCode(rawValue: 13)
    package static let multi = ZooKeeperOpCode(rawValue: 14)
    package static let create2 = ZooKeeperOpCode(rawValue: 15)
    package static let reconfig = ZooKeeperOpCode(rawValue: 16)
    package static let checkWatches = ZooKeeperOpCode(rawValue: 17)
    package static let removeWatches = ZooKeeperOpCode(rawValue: 18)
    package static let createContainer = ZooKeeperOpCode(rawValue: 19)
    package static let deleteContainer = ZooKeeperOpCode(rawValue: 20)
    package static let createTTL = ZooKeeperOpCode(rawValue: 21)
    package static let multiRead = ZooKeeperOpCode(rawValue: 22)
    package static let auth = ZooKeeperOpCode(rawValue: 100)
    package static let setWatches = ZooKeeperOpCode(rawValue: 101)
    package static let sasl = ZooKeeperOpCode(rawValue: 102)
    package static let getEphemerals = ZooKeeperOpCode(rawValue: 103)
    package static let getAllChildrenNumber = ZooKeeperOpCode(rawValue: 104)
    package static let setWatches2 = ZooKeeperOpCode(rawValue: 105)
    package static let addWatch = ZooKeeperOpCode(rawValue: 106)
    package static let createSession = ZooKeeperOpCode(rawValue: -10)
    package static let closeSession = ZooKeeperOpCode(rawValue: -11)
    /// The type of an error result inside a multi response.
    package static let error = ZooKeeperOpCode(rawValue: -1)

    private static let names: [Int32: String] = [
        0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData", 6: "getACL",
        7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2", 13: "check", 14: "multi",
        15: "create2", 16: "reconfig", 17: "checkWatches", 18: "removeWatches", 19: "createContainer",
        20: "deleteContainer", 21: "createTTL", 22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl",
        103: "getEphemerals", 104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch",
        -10: "createSession", -11: "closeSession", -1: "error",
    ]

    /// The Java client's name for the op code, or `op(N)` for one it does not know.
    package var name: String { Self.names[self.rawValue] ?? "op(\(self.rawValue))" }

    package var description: String { self.name }
}

/// The reserved xids of ZooKeeper's client protocol (`ClientCnxn`). Ordinary requests use
/// positive xids that the client increments.
package enum ZooKeeperXid {
    /// A watch notification pushed by the server.
    package static let notification: Int32 = -1
    /// A ping and its reply.
    package static let ping: Int32 = -2
    /// An authentication packet and its reply.
    package static let auth: Int32 = -4
    /// A setWatches request after a reconnect, and its reply.
    package static let setWatches: Int32 = -8
}
