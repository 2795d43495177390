/// The client-side watchers of a session, by kind and server path: the callers waiting for each
/// one-shot watch the server holds for the session.
///
/// The session state machine tracks which watches the *server* holds (to re-register them);
/// this tracks who to tell. One server watch may have several watchers (two reads of the same
/// path), and the server sends one event for all of them. Which watchers an event triggers
/// follows the Java client's `ZKWatchManager.materialize`.
struct ZooKeeperWatchRegistry {
    enum Kind: Hashable {
        /// From getData, or from an exists that found the node.
        case data
        /// From an exists that found no node.
        case exist
        /// From getChildren.
        case child
    }

    private var watchers: [Kind: [String: [ZooKeeperWatcher]]] = [:]

    var isEmpty: Bool { self.watchers.values.allSatisfy(\.isEmpty) }

    mutating func add(_ watcher: @escaping ZooKeeperWatcher, kind: Kind, serverPath: String) {
        self.watchers[kind, default: [:]][serverPath, default: []].append(watcher)
    }

    /// Removes and returns the watchers `event` fires.
    mutating func take(triggeredBy event: ZooKeeperWatcherEvent) -> [ZooKeeperWatcher] {
        let kinds: [Kind]
        switch event.type {
        case .nodeCreated, .nodeDataChanged, .dataWatchRemoved:
            kinds = [.data, .exist]
        case .nodeDeleted:
            kinds = [.data, .exist, .child]
        case .nodeChildrenChanged, .childWatchRemoved:
            kinds = [.child]
        default:
            kinds = []
        }
        var fired: [ZooKeeperWatcher] = []
        for kind in kinds {
            if let list = self.watchers[kind]?.removeValue(forKey: event.path) {
                fired.append(contentsOf: list)
            }
        }
        return fired
    }

    /// Removes and returns every watcher with its server path (the session ended).
    mutating func takeAll() -> [(serverPath: String, watcher: ZooKeeperWatcher)] {
        var all: [(serverPath: String, watcher: ZooKeeperWatcher)] = []
        for kind in [Kind.data, .exist, .child] {
            for (path, list) in (self.watchers[kind] ?? [:]).sorted(by: { $0.key < $1.key }) {
                for watcher in list { all.append((path, watcher)) }
            }
        }
        self.watchers = [:]
        return all
    }
}
