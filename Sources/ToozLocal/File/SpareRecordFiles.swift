#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Member record files that left a group, kept in `DIR/tmp` for the next join to rewrite instead
/// of creating a file.
///
/// A join writes a temporary file and renames it into place, so that readers never see half a
/// record; a leave used to unlink the record. Creating a file allocates an inode and unlinking
/// frees one, and some file systems make allocation slow under that churn: ext4 without a
/// journal steps over every inode freed in the last minutes, so a create that costs 10 µs on a
/// quiet directory costs several hundred after a few hundred joins and leaves. A leave therefore
/// renames the record into `DIR/tmp` (to readers of the group, as atomic as unlinking it) and
/// the next join rewrites that file and renames it into place: still a temporary file and a
/// rename, without the churn.
///
/// At most ``capacity`` are kept; `disconnect()` removes them, and `connect()` removes any that a
/// crashed process left once they are a day old. A spare removed behind our back only costs the
/// fallback: the join creates a temporary file as before.
final class SpareRecordFiles: Sendable {
    static let capacity = 4
    /// The prefix and suffix of every temporary file we create in `DIR/tmp`.
    static let prefix = "swift-tooz-"
    static let suffix = ".tmp"

    private let paths = Mutex<[String]>([])

    init() {}

    /// A backend dropped without `disconnect()` leaves no spares behind either.
    deinit {
        for path in removeAll() { _ = unlink(path) }
    }

    /// A spare to rewrite, which now belongs to the caller.
    func take() -> String? {
        paths.withLock { $0.popLast() }
    }

    /// Whether another spare would be kept.
    var hasRoom: Bool { paths.withLock { $0.count < Self.capacity } }

    /// Keeps `path` as a spare; `false` when there are enough already (the caller removes it).
    func keep(_ path: String) -> Bool {
        paths.withLock { paths in
            guard paths.count < Self.capacity else { return false }
            paths.append(path)
            return true
        }
    }

    /// Forgets every spare; the caller removes the files.
    func removeAll() -> [String] {
        paths.withLock { paths in
            defer { paths.removeAll() }
            return paths
        }
    }
}
