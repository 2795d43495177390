/// The host-wide fencing counter of the `ipc://` backend: 8 bytes (a native-endian `UInt64`) at
/// the start of a shared memory segment of our own, which Python tooz never touches.
///
/// The kernel zero-fills a new segment, so the first token is 1. The counter lives in memory
/// only: it restarts from 1 after a reboot or after the segment is removed (`ipcrm`), which is
/// why the backend labels its tokens ``FencingStrength/hostLocal``.
enum IPCFencingCounter {
    /// The bytes used.
    static let size = MemoryLayout<UInt64>.size

    /// Increments the counter and returns the new value. The caller must hold tooz's internal
    /// lock, which serialises every writer on the host.
    static func next(key: IPCKey) throws(ToozError) -> UInt64 {
        try SysVSharedMemory.withSegment(key: key, size: size) { (bytes) throws(ToozError) -> UInt64 in
            let value = bytes.load(as: UInt64.self) &+ 1
            bytes.storeBytes(of: value, as: UInt64.self)
            return value
        }
    }

    /// The current value, without changing it.
    static func current(key: IPCKey) throws(ToozError) -> UInt64 {
        try SysVSharedMemory.withSegment(key: key, size: size) { (bytes) throws(ToozError) -> UInt64 in
            bytes.load(as: UInt64.self)
        }
    }
}
