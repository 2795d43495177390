import Synchronization

/// Remembers ``FileLayout/safeName(_:)`` (a SHA-1) of the group and member ids one backend
/// uses: every member operation needs two or three of them, and hashing costs more than the
/// lookup.
final class SafeNameCache: Sendable {
    /// Beyond this many ids the cache starts afresh: ids are few in practice, and a bound keeps
    /// a process that sees endless new ids from growing.
    static let capacity = 1024

    private let names = Mutex<[String: String]>([:])

    init() {}

    /// The file-system-safe name of `id`.
    func name(for id: String) -> String {
        if let name = names.withLock({ $0[id] }) { return name }
        let name = FileLayout.safeName(id)
        names.withLock { names in
            if names.count >= Self.capacity { names.removeAll(keepingCapacity: true) }
            names[id] = name
        }
        return name
    }
}
