/// How a node is created (`CreateMode`), sent as the `flags` of a create request.
package enum ZooKeeperCreateMode: Int32, Hashable, Sendable, CaseIterable {
    /// Stays until deleted: groups, lock roots.
    case persistent = 0
    /// Deleted when the creating session ends: members.
    case ephemeral = 1
    /// Persistent, with a 10-digit, monotonically increasing suffix appended by the server.
    case persistentSequential = 2
    /// Ephemeral and sequential: lock and election contenders.
    case ephemeralSequential = 3

    package var isEphemeral: Bool { self == .ephemeral || self == .ephemeralSequential }
    package var isSequential: Bool { self == .persistentSequential || self == .ephemeralSequential }
}
