#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// The fencing counter of one lock key: `DIR/.swift-tooz/fencing/<sha1(key)>`.
///
/// The file holds the last token as 20 decimal digits and a newline, then the member id of the
/// current holder (empty when free). It is only written by the holder of the key, between taking
/// the OFD lock and releasing it, so the read-increment-write needs no lock of its own. The
/// counter is written in place with one `pwrite` of a fixed-size prefix and flushed with `fsync`
/// before the token is handed out, so tokens grow strictly even across crashes and reboots.
/// Python tooz does not know this file: a Python holder neither bumps nor reads it.
enum FencingCounter {
    static let digits = 20
    /// The bytes before the holder's member id.
    static let prefixLength = digits + 1

    /// Increments the counter at `path`, records `holder`, and returns the new token.
    static func next(at path: String, holder: MemberID) throws(ToozError) -> UInt64 {
        var created = false
        let file = try FileSystem.openOrCreate(path, created: &created) { () throws(ToozError) in
            try FileSystem.makeDirectoryTree(directory(of: path))
        }
        let current = try parse(try FileSystem.readAll(file, path: path, limit: 1 << 16), path: path)
        guard current < UInt64.max else {
            throw ToozError(.backendError, "the fencing counter \(path) is exhausted")
        }
        let next = current + 1
        let text = String(next)
        let record = Array((String(repeating: "0", count: digits - text.count) + text + "\n").utf8)
            + Array(holder.rawValue.utf8)
        try FileSystem.writeAll(record, to: file.rawValue, path: path)
        try FileSystem.truncate(file.rawValue, to: record.count, path: path)
        try FileSystem.sync(file.rawValue, path: path)
        if created {
            // Make the new directory entry durable too, or a crash could bring back a missing file
            // and restart the count.
            try FileSystem.syncDirectory(directory(of: path))
        }
        return next
    }

    /// Forgets the holder, before the lock is released. Best effort: the OFD lock, not this file,
    /// says whether the key is held.
    static func clearHolder(at path: String) {
        guard let file = try? FileSystem.openIfExists(path, flags: O_WRONLY) else { return }
        try? FileSystem.truncate(file.rawValue, to: prefixLength, path: path)
    }

    /// The holder recorded at `path`, if any.
    static func holder(at path: String) throws(ToozError) -> MemberID? {
        guard let bytes = try FileSystem.read(path), bytes.count > prefixLength else { return nil }
        return String(validating: bytes[prefixLength...], as: UTF8.self).map { MemberID($0) }
    }

    private static func directory(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }

    /// The counter in `bytes`; 0 for a new, empty file.
    static func parse(_ bytes: [UInt8], path: String) throws(ToozError) -> UInt64 {
        if bytes.isEmpty { return 0 }
        guard bytes.count >= prefixLength, bytes[digits] == UInt8(ascii: "\n"),
            bytes[..<digits].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = UInt64(String(decoding: bytes[..<digits], as: UTF8.self))
        else {
            throw ToozError(
                .serializationFailed,
                "the fencing counter \(path) is garbled; refusing to hand out a token that might not grow"
            )
        }
        return value
    }
}
