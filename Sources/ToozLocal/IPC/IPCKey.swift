#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A System V IPC key, derived exactly as Python tooz's `ipc` driver derives it.
///
/// tooz's `ftok(name, project)` is not the C `ftok`: it hashes `project + name` with MD5 and maps
/// the 128-bit digest into sysv_ipc's key range, `(digest mod (KEY_MAX − KEY_MIN)) + KEY_MIN`.
/// With sysv_ipc ≥ 1.x on 64-bit Linux that range is `LONG_MIN...LONG_MAX`, so the result is a
/// signed 64-bit number (``toozValue``), and sysv_ipc's C layer then casts it to the 32-bit
/// `key_t`, keeping the low 32 bits (``rawValue``). Only ``rawValue`` reaches the kernel, and it
/// must be bit-for-bit the same as Python's so that both open the same semaphores and segments.
package struct IPCKey: Hashable, Sendable, CustomStringConvertible {
    /// The number Python's `tooz.drivers.ipc.ftok` returns.
    package let toozValue: Int64

    /// Derives the key of `name` in `project` from their bytes.
    package init(name: some Sequence<UInt8>, project: some Sequence<UInt8>) {
        var hasher = MD5(project)
        hasher.update(name)
        let digest = hasher.finalizeBigEndian()
        let whole = UInt128(digest.high) << 64 | UInt128(digest.low)
        // _KEY_RANGE = |LONG_MIN| + LONG_MAX = 2^64 − 1; the remainder is at most 2^64 − 2.
        let remainder = UInt64(whole % UInt128(UInt64.max))
        // remainder + LONG_MIN, computed in two's complement without leaving 64 bits.
        toozValue = Int64(bitPattern: remainder &+ UInt64(bitPattern: Int64.min))
    }

    /// Derives the key of `name` in `project` from their UTF-8 bytes (Python's `str.encode()`
    /// for the ASCII names tooz uses, and the bytes a Python caller would pass for the rest).
    package init(name: String, project: String) {
        self.init(name: Array(name.utf8), project: Array(project.utf8))
    }

    /// The `key_t` handed to `semget` and `shmget`: the low 32 bits of ``toozValue``.
    package var rawValue: key_t { key_t(truncatingIfNeeded: toozValue) }

    /// The key as `ipcs` prints it (`0x91b9e60c`).
    package var description: String {
        let digits = String(UInt32(bitPattern: Int32(truncatingIfNeeded: toozValue)), radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// tooz's `IPCLock._LOCK_PROJECT`.
    package static let lockProject = "__TOOZ_LOCK_"

    /// The semaphore key of the tooz lock `name`.
    package static func lock(_ name: String) -> IPCKey {
        IPCKey(name: name, project: lockProject)
    }

    /// The name of tooz's internal lock that guards the group list (`_INTERNAL_LOCK_NAME`).
    package static let internalLockName = "TOOZ_INTERNAL_LOCK"

    /// The semaphore of tooz's internal lock.
    package static let internalLock = IPCKey.lock(internalLockName)

    /// The shared memory segment that holds tooz's group list (`_GROUP_LIST_KEY`, `_GROUP_PROJECT`).
    package static let groupList = IPCKey(name: "GROUP_LIST", project: "_TOOZ_INTERNAL")
}
