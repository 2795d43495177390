#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// An open file descriptor that is closed exactly once: when it goes out of scope, or by whoever
/// takes it over with ``take()``.
///
/// Closing matters doubly here: closing the descriptor is also what drops an OFD lock taken on it.
struct FileDescriptor: ~Copyable {
    let rawValue: Int32

    init(_ rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit { closeDescriptor(rawValue) }

    /// Hands the raw descriptor to the caller, who must close it with ``closeDescriptor(_:)``.
    consuming func take() -> Int32 {
        let raw = rawValue
        discard self
        return raw
    }
}

/// Closes `descriptor` once. Never retried on `EINTR`: on Linux the descriptor is gone even then,
/// and a retry could close a descriptor another thread has just been given.
func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
