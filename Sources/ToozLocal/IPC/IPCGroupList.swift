/// tooz's `ipc` group list: the contents of one shared memory segment, encoded and decoded
/// without touching the segment.
///
/// Layout (tooz `IPCDriver._read_group_list` / `_write_group_list`): the first two bytes are the
/// length of the data as a native-endian `unsigned short`, then the data, a msgpack array of group
/// ids (`msgpack.dumps(list(group_set))`). Python writes `bytes` ids as *bin* and `str` ids as
/// *str*; both are recognised, entries are written back exactly as they were read, and the ids we
/// add are *bin*, as Python's `bytes` ids are.
package struct IPCGroupList: Sendable, Hashable {
    /// tooz's `_SEGMENT_SIZE`.
    package static let segmentSize = 1024
    /// The length prefix.
    package static let headerSize = 2
    /// The longest data tooz writes: it refuses `len(data) >= 1024 - 2`.
    package static let maximumDataSize = segmentSize - headerSize - 1

    /// The array's elements, in segment order.
    package private(set) var entries: [MessagePackValue]

    package init(entries: [MessagePackValue] = []) {
        self.entries = entries
    }

    /// Decodes the group list from the bytes of the segment (at least the length prefix and the
    /// data it announces; usually all 1024 bytes).
    ///
    /// - Throws: `serializationFailed` when the length or the data is garbage.
    package init(segment: [UInt8]) throws(ToozError) {
        guard segment.count >= Self.headerSize else {
            throw Self.corrupt("it is only \(segment.count) bytes long")
        }
        let length = Int(segment.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
        if length == 0 {
            self.entries = []
            return
        }
        guard length <= segment.count - Self.headerSize, length <= Self.segmentSize - Self.headerSize else {
            throw Self.corrupt("its length prefix says \(length) bytes, but at most \(min(segment.count, Self.segmentSize) - Self.headerSize) follow")
        }
        let value: MessagePackValue
        do throws(ToozError) {
            value = try OsloMsgPack.decode(Array(segment[Self.headerSize..<(Self.headerSize + length)]))
        } catch {
            throw Self.corrupt(error.message, underlying: error)
        }
        guard case .array(let entries) = value else {
            throw Self.corrupt("it holds \(value) instead of an array")
        }
        self.entries = entries
    }

    /// The group ids, each once; entries that are neither *bin* nor *str*, or *bin* that is not
    /// UTF-8, cannot be named by a ``GroupID`` and are left out.
    package var groups: [GroupID] {
        var seen = Set<GroupID>()
        return entries.compactMap { entry -> GroupID? in
            let group: GroupID
            switch entry {
            case .binary(let bytes):
                guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
                group = GroupID(text)
            case .string(let text):
                group = GroupID(text)
            default:
                return nil
            }
            return seen.insert(group).inserted ? group : nil
        }
    }

    package func contains(_ group: GroupID) -> Bool {
        entries.contains { Self.entry($0, is: group) }
    }

    /// Adds `group` as *bin*. Returns `false` when it was already there.
    @discardableResult
    package mutating func insert(_ group: GroupID) -> Bool {
        guard !contains(group) else { return false }
        entries.append(.binary(Array(group.rawValue.utf8)))
        return true
    }

    /// Removes every entry naming `group` (a Python set may hold it as both bytes and str).
    /// Returns `false` when there was none.
    @discardableResult
    package mutating func remove(_ group: GroupID) -> Bool {
        let before = entries.count
        entries.removeAll { Self.entry($0, is: group) }
        return entries.count != before
    }

    /// The bytes to write at the start of the segment: the length prefix and the data.
    ///
    /// - Throws: `invalidArgument` ("group list is full") when the data would not fit, with
    ///   tooz's limit, so that both languages agree on when the list is full.
    package func encodedSegment() throws(ToozError) -> [UInt8] {
        let data = OsloMsgPack.encode(.array(entries))
        guard data.count <= Self.maximumDataSize else {
            throw ToozError(
                .invalidArgument,
                "group list is full: the ipc backend keeps every group id of the host in one \(Self.segmentSize)-byte segment, and this list needs \(data.count + Self.headerSize) bytes; delete unused groups or use shorter ids"
            )
        }
        let length = UInt16(data.count)
        return withUnsafeBytes(of: length) { Array($0) } + data
    }

    private static func entry(_ entry: MessagePackValue, is group: GroupID) -> Bool {
        switch entry {
        case .binary(let bytes): bytes.elementsEqual(group.rawValue.utf8)
        case .string(let text): text == group.rawValue
        default: false
        }
    }

    private static func corrupt(_ reason: String, underlying: (any Error)? = nil) -> ToozError {
        ToozError(
            .serializationFailed,
            "the ipc group list segment (key \(IPCKey.groupList)) is corrupt: \(reason)",
            underlying: underlying
        )
    }
}
