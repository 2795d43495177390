#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// Exclusive whole-file open-file-description locks (`fcntl(F_OFD_SETLK)`).
///
/// Why OFD locks:
/// - they conflict with the POSIX record locks (`lockf`/`F_SETLK`) that Python tooz takes through
///   fasteners on the same files, so Swift and Python members exclude each other;
/// - they belong to the open file description, not to the process, so two descriptors opened by
///   one process (two coordinators, two lock objects) exclude each other too, and closing an
///   unrelated descriptor of the same file does not silently drop the lock as it does with
///   POSIX locks;
/// - the kernel drops them when the last descriptor closes, so a crashed holder frees its locks
///   at once.
///
/// Only non-blocking commands are used: a blocking `F_OFD_SETLKW` would park a thread of the
/// cooperative pool. Waiting is polling, done by the caller between suspensions.
enum OFDLock {
    #if os(Linux)
    // <fcntl.h> defines these only under _GNU_SOURCE, which Swift's Glibc module does not see.
    static let getCommand: Int32 = 36  // F_OFD_GETLK
    static let setCommand: Int32 = 37  // F_OFD_SETLK
    #else
    // xnu's values for the same commands.
    static let getCommand: Int32 = 92  // F_OFD_GETLK
    static let setCommand: Int32 = 90  // F_OFD_SETLK
    #endif

    /// A request covering the whole file, now and after it grows.
    private static func wholeFile(_ type: Int32) -> flock {
        var request = flock()
        request.l_type = Int16(type)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = 0
        request.l_len = 0
        request.l_pid = 0  // required to be 0 for OFD commands
        return request
    }

    /// One attempt to take an exclusive lock. Returns `false` when another open file description
    /// or another process holds a conflicting lock.
    static func tryLock(_ descriptor: Int32, path: String) throws(ToozError) -> Bool {
        var request = wholeFile(Int32(F_WRLCK))
        while true {
            if fcntl(descriptor, setCommand, &request) == 0 { return true }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EACCES: return false
            default: throw FileSystem.failure("lock", path, call: "fcntl(F_OFD_SETLK)", code: code)
            }
        }
    }

    /// Drops our lock. Closing the descriptor would drop it too; unlocking first makes the release
    /// visible before any other clean-up of the descriptor.
    static func unlock(_ descriptor: Int32) {
        var request = wholeFile(Int32(F_UNLCK))
        _ = fcntl(descriptor, setCommand, &request)
    }

    /// Whether anyone other than `descriptor`'s own open file description holds a lock on the
    /// file. The descriptor may be read-only; no lock is taken.
    static func isLockedByOthers(_ descriptor: Int32, path: String) throws(ToozError) -> Bool {
        var request = wholeFile(Int32(F_WRLCK))
        while true {
            if fcntl(descriptor, getCommand, &request) == 0 { return request.l_type != Int16(F_UNLCK) }
            let code = errno
            if code == EINTR { continue }
            throw FileSystem.failure("query the lock on", path, call: "fcntl(F_OFD_GETLK)", code: code)
        }
    }
}
