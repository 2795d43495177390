#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Tooz

/// The lock keys one ``FileBackend`` used recently: their paths (so the SHA-1 and path building
/// of ``FileLayout/files(for:)`` happen once per key) and at most one idle set of open
/// ``LockFileHandles`` each, so that the next acquisition of the key needs no `open`.
///
/// Handles are checked out for the time they are used (an acquisition attempt, a held lock, a
/// wait) and checked back in afterwards; a key never has two users of one handle set, so two
/// lock objects of one backend still use two open file descriptions and exclude each other.
/// At most ``capacity`` keys are remembered; the least recently used one is forgotten (and its
/// idle descriptors closed) beyond that.
final class FileLockCache: Sendable {
    /// 256 names (up to 512 descriptors), fewer where the process may open few files: one
    /// backend's idle descriptors stay under an eighth of the soft `RLIMIT_NOFILE` (64 names at
    /// the common 1024), so a few backends never exhaust it.
    static let defaultCapacity: Int = {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        // RLIM_INFINITY is all ones, which this min() turns into 256 too.
        guard getrlimit(resource, &limit) == 0 else { return 256 }
        return Int(min(256, max(16, limit.rlim_cur / 16)))
    }()

    private struct Slot {
        var files: FileLayout.LockFiles
        var idle: LockFileHandles?
        var lastUse: UInt64
    }

    private struct State {
        var slots: [LockKey: Slot] = [:]
        var uses: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = FileLockCache.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// A backend dropped without `disconnect()` does not leak its idle descriptors.
    deinit {
        for handles in removeAll() { handles.close() }
    }

    /// The remembered paths of `key` and its idle handles, which now belong to the caller;
    /// `nil` when the key is not remembered.
    func checkOut(_ key: LockKey) -> (files: FileLayout.LockFiles, handles: LockFileHandles?)? {
        state.withLock { state in
            guard var slot = state.slots[key] else { return nil }
            let handles = slot.idle
            slot.idle = nil
            state.uses &+= 1
            slot.lastUse = state.uses
            state.slots[key] = slot
            return (slot.files, handles)
        }
    }

    /// Gives `handles` back for the next use of `key`. They are closed instead when the key
    /// already has an idle set, or when the key is forgotten to stay within ``capacity``.
    func checkIn(_ key: LockKey, files: FileLayout.LockFiles, handles: LockFileHandles) {
        let surplus = state.withLock { state -> [LockFileHandles] in
            state.uses &+= 1
            var surplus: [LockFileHandles] = []
            if var slot = state.slots[key] {
                if slot.idle == nil { slot.idle = handles } else { surplus.append(handles) }
                slot.lastUse = state.uses
                state.slots[key] = slot
                return surplus
            }
            state.slots[key] = Slot(files: files, idle: handles, lastUse: state.uses)
            if state.slots.count > capacity, let oldest = state.slots.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.slots.removeValue(forKey: oldest.key)
                if let idle = oldest.value.idle { surplus.append(idle) }
            }
            return surplus
        }
        // Closed outside the mutex: close(2) may take a while on some file systems.
        for handles in surplus { handles.close() }
    }

    /// Forgets every key; the caller now owns (and must close) the idle handles returned.
    func removeAll() -> [LockFileHandles] {
        state.withLock { state in
            defer { state.slots.removeAll() }
            return state.slots.values.compactMap(\.idle)
        }
    }

    /// How many keys are remembered, and how many of them have idle handles open.
    var counts: (keys: Int, openHandles: Int) {
        state.withLock { state in (state.slots.count, state.slots.values.count { $0.idle != nil }) }
    }
}
