#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// System V shared memory segments, attached only for the duration of one call.
///
/// Attaching per call (rather than once at connect, as tooz does) means a segment that someone
/// removed and re-created under the same key (a Python `stop()` does that to the group list) is
/// picked up at once instead of leaving us attached to an orphan.
enum SysVSharedMemory {
    /// sysv_ipc's default mode.
    static let mode: Int32 = 0o600

    /// Opens the segment of `key`, creating it zero-filled with `size` bytes when there is none
    /// (`IPC_CREAT`, as tooz does). Returns its id.
    @discardableResult
    static func open(key: IPCKey, size: Int) throws(ToozError) -> Int32 {
        let id = shmget(key.rawValue, size, mode | IPC_CREAT)
        if id >= 0 { return id }
        let code = errno
        if code == EINVAL {
            throw ToozError(
                .backendError,
                "shmget for segment \(key) failed: a segment with that key exists but is smaller than \(size) bytes (errno EINVAL); remove it with `ipcrm -M \(key)` if it is stale"
            )
        }
        throw SysVError.failure("shmget(IPC_CREAT)", "segment \(key)", errno: code)
    }

    /// Attaches the segment of `key` (creating it when needed), runs `body` on its first `size`
    /// bytes, and detaches it again whatever happens.
    static func withSegment<Result>(
        key: IPCKey,
        size: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws(ToozError) -> Result
    ) throws(ToozError) -> Result {
        let id = try open(key: key, size: size)
        let address = shmat(id, nil, 0)
        guard let address, Int(bitPattern: address) != -1 else {
            throw SysVError.failure("shmat", "segment \(key)", errno: errno)
        }
        defer { _ = shmdt(address) }
        return try body(UnsafeMutableRawBufferPointer(start: address, count: size))
    }

    /// Marks the segment of `key` for removal. Returns `false` when there was none.
    @discardableResult
    static func remove(key: IPCKey) throws(ToozError) -> Bool {
        let id = shmget(key.rawValue, 0, 0)
        if id < 0 {
            let code = errno
            if code == ENOENT { return false }
            throw SysVError.failure("shmget", "segment \(key)", errno: code)
        }
        if shmctl(id, IPC_RMID, nil) == 0 { return true }
        let code = errno
        if code == EINVAL || code == EIDRM { return false }
        throw SysVError.failure("shmctl(IPC_RMID)", "segment \(key)", errno: code)
    }
}
