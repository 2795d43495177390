import Tooz

/// Wakes the waiters of this process the moment a lock file is unlocked by this process.
///
/// A waiter cannot be told by the kernel that an OFD lock was released, so
/// ``FileBackend/waitForRelease(of:timeout:)`` polls; but when the holder is another coordinator
/// of the same process (another ``FileBackend`` on the same directory), its release notifies
/// here and the waiter retries at once instead of at its next poll. Keys are file identities,
/// not paths, so two spellings of one directory still meet.
enum LockReleaseSignals {
    static let shared = KeyedSignals<FileIdentity>()
}
