/// A ZooKeeper session as the server granted it.
package struct ZooKeeperSession: Hashable, Sendable, CustomStringConvertible {
    /// The session id; ephemeral nodes carry it as their `ephemeralOwner`.
    package var id: Int64
    /// The session password, needed to resume the session on another connection.
    package var password: [UInt8]
    /// The timeout the server negotiated. The server expires the session when it hears nothing
    /// from the client for this long.
    package var timeout: Duration

    package init(id: Int64, password: [UInt8], timeout: Duration) {
        self.id = id
        self.password = password
        self.timeout = timeout
    }

    /// Shows the id in ZooKeeper's hex form; never the password.
    package var description: String {
        "session 0x\(String(UInt64(bitPattern: self.id), radix: 16)) (timeout \(self.timeout))"
    }
}

/// Identifies one transport connection of a session, so that events from a connection the
/// session has already given up on are recognised and ignored.
package struct ZooKeeperConnectionID: Hashable, Sendable, CustomStringConvertible {
    package var rawValue: Int

    package init(_ rawValue: Int) {
        self.rawValue = rawValue
    }

    package var description: String { "connection #\(self.rawValue)" }
}

/// The one-shot watches a session holds, by kind, as ZooKeeper's `SetWatches` lists them.
package struct ZooKeeperWatches: Hashable, Sendable {
    /// Paths with a data watch: a getData, or an exists that found the node.
    package var data: Set<String> = []
    /// Paths with an exist watch: an exists that found no node.
    package var exist: Set<String> = []
    /// Paths with a child watch: a getChildren.
    package var child: Set<String> = []

    package init(data: Set<String> = [], exist: Set<String> = [], child: Set<String> = []) {
        self.data = data
        self.exist = exist
        self.child = child
    }

    package var isEmpty: Bool { self.data.isEmpty && self.exist.isEmpty && self.child.isEmpty }

    /// Removes the watches `event` triggers: the server fires each watch once (the rules of
    /// the Java client's `ZKWatchManager.materialize`).
    package mutating func remove(triggeredBy event: ZooKeeperWatcherEvent) {
        switch event.type {
        case .nodeCreated, .nodeDataChanged:
            self.data.remove(event.path)
            self.exist.remove(event.path)
        case .nodeDeleted:
            self.data.remove(event.path)
            self.exist.remove(event.path)
            self.child.remove(event.path)
        case .nodeChildrenChanged, .childWatchRemoved:
            self.child.remove(event.path)
        case .dataWatchRemoved:
            self.data.remove(event.path)
            self.exist.remove(event.path)
        default:
            break
        }
    }

    /// The `SetWatches` packets that re-register every watch after a reconnect. Paths are
    /// sorted (so the bytes are deterministic) and split so that no packet carries more than
    /// `maximumPathBytes` of paths, as the Java client does to stay under `jute.maxbuffer`.
    package func setWatchesPackets(relativeZxid: Int64, maximumPathBytes: Int) -> [ZooKeeperSetWatches] {
        var packets: [ZooKeeperSetWatches] = []
        var current = ZooKeeperSetWatches(relativeZxid: relativeZxid, dataWatches: [], existWatches: [], childWatches: [])
        var currentBytes = 0
        let kinds: [(WritableKeyPath<ZooKeeperSetWatches, [String]>, Set<String>)] = [
            (\.dataWatches, self.data), (\.existWatches, self.exist), (\.childWatches, self.child),
        ]
        for (list, paths) in kinds {
            for path in paths.sorted() {
                let size = path.utf8.count + 4
                if currentBytes > 0 && currentBytes + size > maximumPathBytes {
                    packets.append(current)
                    current = ZooKeeperSetWatches(relativeZxid: relativeZxid, dataWatches: [], existWatches: [], childWatches: [])
                    currentBytes = 0
                }
                current[keyPath: list].append(path)
                currentBytes += size
            }
        }
        if currentBytes > 0 { packets.append(current) }
        return packets
    }
}
