#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Which file an open descriptor or a path refers to: device and inode number.
///
/// Comparing the identity a descriptor was opened on with what its path names now tells whether
/// the file was removed or replaced meanwhile. While we keep the descriptor open the inode
/// cannot be freed, so its number cannot be reused by another file: equal identities mean the
/// same, still linked, file.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// From `statx`'s fields, with the device encoded as glibc's `makedev` does, so that it
    /// equals what `stat` reports for the same file.
    init(deviceMajor major: UInt32, deviceMinor minor: UInt32, inode: UInt64) {
        let major = UInt64(major)
        let minor = UInt64(minor)
        device = (major & 0xfff) << 8 | (major & ~0xfff) << 32 | (minor & 0xff) | (minor & ~0xff) << 12
        self.inode = inode
    }
}
