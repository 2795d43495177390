import Tooz

/// Where everything lives under the root directory: tooz 9.1.0's layout, so Python tooz file
/// members and ours share groups and locks, plus a `.swift-tooz` directory that Python ignores.
///
/// ```
/// DIR/.driver_lock                          locked around every member operation (tooz)
/// DIR/tmp/                                  temporary files, renamed into place (tooz)
/// DIR/groups/<sha1(g)>/.metadata            {'group_id': g, 'encoded': bool} (tooz)
/// DIR/groups/<sha1(g)>/<sha1(m)>.raw        {'capabilities', 'joined_on', 'member_id', 'encoded'} (tooz)
/// DIR/<lock name>                           an empty lock file (tooz)
/// DIR/.swift-tooz/leaders/<sha1(g)>         the leadership lock, holding the leader's member id
/// DIR/.swift-tooz/fencing/<sha1(key)>       a fencing counter and the holder's member id
/// ```
struct FileLayout: Sendable, Hashable {
    /// The absolute, normalised root directory.
    let root: String

    /// Top-level names a lock name may not start with: they belong to the layout.
    static let reservedNames: Set<Substring> = ["groups", "tmp", ".driver_lock", extensionDirectoryName]
    static let extensionDirectoryName: Substring = ".swift-tooz"
    /// The longest file name most file systems accept (NAME_MAX).
    static let maximumComponentLength = 255

    var groups: String { root + "/groups" }
    var temporary: String { root + "/tmp" }
    var driverLock: String { root + "/.driver_lock" }
    var extensions: String { root + "/" + Self.extensionDirectoryName }
    var leaders: String { extensions + "/leaders" }
    var fencing: String { extensions + "/fencing" }

    /// Every directory `connect()` makes sure of.
    var directories: [String] { [root, groups, temporary, extensions, leaders, fencing] }

    /// tooz's `_make_filesystem_safe`: the SHA-1 of the UTF-8 bytes, in lowercase hex.
    static func safeName(_ id: String) -> String { SHA1.hexDigest(Array(id.utf8)) }

    func groupDirectory(_ group: GroupID) -> String { groups + "/" + Self.safeName(group.rawValue) }
    func metadata(_ group: GroupID) -> String { groupDirectory(group) + "/.metadata" }
    func member(_ member: MemberID, in group: GroupID) -> String {
        groupDirectory(group) + "/" + Self.safeName(member.rawValue) + ".raw"
    }

    /// The files behind a lock or leadership.
    struct LockFiles: Sendable, Hashable {
        /// The file that is OFD-locked.
        var path: String
        /// Directories between the root and ``path``, created on demand.
        var parents: [Substring]
        /// The fencing counter of the key.
        var fencing: String
    }

    /// The files of `key`. Throws `invalidArgument` for a lock name that would leave the root
    /// directory or land on the layout, before any I/O.
    func files(for key: LockKey) throws(ToozError) -> LockFiles {
        switch key {
        case .lock(let name):
            let components = try Self.lockComponents(name.rawValue)
            let relative = components.joined(separator: "/")
            return LockFiles(
                path: root + "/" + relative,
                parents: Array(components.dropLast()),
                fencing: fencing + "/" + Self.safeName("lock:" + relative)
            )
        case .leadership(let group):
            return LockFiles(
                path: leaders + "/" + Self.safeName(group.rawValue),
                parents: [Self.extensionDirectoryName, "leaders"],
                fencing: fencing + "/" + Self.safeName("leader:" + group.rawValue)
            )
        }
    }

    /// Splits a lock name into the path components tooz would use (`os.path.abspath` drops empty
    /// and `.` components), refusing everything that could escape the root or hit the layout.
    ///
    /// tooz allows `a/../b`; we refuse any `..`, so no name can ever step outside, whatever
    /// symbolic links the directory holds.
    static func lockComponents(_ name: String) throws(ToozError) -> [Substring] {
        func refuse(_ why: String) -> ToozError {
            ToozError(.invalidArgument, "lock name \(name.debugDescription) \(why)")
        }
        if name.hasPrefix("/") { throw refuse("is an absolute path; file:// lock names are relative to the directory") }
        if name.utf8.contains(0) { throw refuse("contains a NUL character") }
        let components = name.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains("..") { throw refuse("contains a \"..\" component") }
        guard let first = components.first else { throw refuse("names the directory itself") }
        if reservedNames.contains(first) {
            throw refuse("is reserved by the file backend's layout (\(reservedNames.sorted().joined(separator: ", ")))")
        }
        if let long = components.first(where: { $0.utf8.count > maximumComponentLength }) {
            throw refuse("has a component of \(long.utf8.count) bytes; at most \(maximumComponentLength) fit a file name")
        }
        return components
    }
}
