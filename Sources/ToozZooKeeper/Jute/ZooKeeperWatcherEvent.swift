import Tooz

/// A watch notification (`WatcherEvent`), pushed by the server with xid -1.
package struct ZooKeeperWatcherEvent: JuteRecord, Hashable, Sendable {
    /// `Watcher.Event.EventType`. An open set, so a newer server's event type still decodes.
    package struct EventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package var rawValue: Int32
        package init(rawValue: Int32) { self.rawValue = rawValue }

        package static let none = EventType(rawValue: -1)
        package static let nodeCreated = EventType(rawValue: 1)
        package static let nodeDeleted = EventType(rawValue: 2)
        package static let nodeDataChanged = EventType(rawValue: 3)
        package static let nodeChildrenChanged = EventType(rawValue: 4)
        package static let dataWatchRemoved = EventType(rawValue: 5)
        package static let childWatchRemoved = EventType(rawValue: 6)
        package static let persistentWatchRemoved = EventType(rawValue: 7)

        package var description: String {
            switch self.rawValue {
            case -1: "None"
            case 1: "NodeCreated"
            case 2: "NodeDeleted"
            case 3: "NodeDataChanged"
            case 4: "NodeChildrenChanged"
            case 5: "DataWatchRemoved"
            case 6: "ChildWatchRemoved"
            case 7: "PersistentWatchRemoved"
            default: "EventType(\(self.rawValue))"
            }
        }
    }

    /// `Watcher.Event.KeeperState`. An open set.
    package struct KeeperState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package var rawValue: Int32
        package init(rawValue: Int32) { self.rawValue = rawValue }

        package static let unknown = KeeperState(rawValue: -1)
        package static let disconnected = KeeperState(rawValue: 0)
        package static let noSyncConnected = KeeperState(rawValue: 1)
        package static let syncConnected = KeeperState(rawValue: 3)
        package static let authFailed = KeeperState(rawValue: 4)
        package static let connectedReadOnly = KeeperState(rawValue: 5)
        package static let saslAuthenticated = KeeperState(rawValue: 6)
        package static let expired = KeeperState(rawValue: -112)
        package static let closed = KeeperState(rawValue: 7)

        package var description: String {
            switch self.rawValue {
            case -1: "Unknown"
            case 0: "Disconnected"
            case 1: "NoSyncConnected"
            case 3: "SyncConnected"
            case 4: "AuthFailed"
            case 5: "ConnectedReadOnly"
            case 6: "SaslAuthenticated"
            case -112: "Expired"
            case 7: "Closed"
            default: "KeeperState(\(self.rawValue))"
            }
        }
    }

    package var type: EventType
    package var state: KeeperState
    /// The server's path of the node (with the chroot, if any).
    package var path: String

    package init(type: EventType, state: KeeperState = .syncConnected, path: String) {
        self.type = type
        self.state = state
        self.path = path
    }

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.type = EventType(rawValue: try reader.readInt())
        self.state = KeeperState(rawValue: try reader.readInt())
        self.path = try reader.readNonNullString()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.type.rawValue)
        writer.writeInt(self.state.rawValue)
        try writer.writeString(self.path)
    }
}
