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
/// ```
/// 00000000000000001030\n                   ceiling: written with fsync before any token up to it
/// 00000000000000000006\n                   the last token handed out
/// 6f1c0e52-8d0b-4c1e-9a43-2b6e0c8e5f01\n   the kernel boot during which that token was written
/// member-1                                 the holder's member id, up to the first NUL
/// ```
///
/// A release overwrites the holder's id with NUL bytes rather than truncating the file:
/// `ftruncate` costs several times a `pwrite`, and member ids never contain NUL.
///
/// Only the holder of the key writes the file, between taking the OFD lock and releasing it, so
/// the read-increment-write needs no lock of its own. Python tooz does not know this file: a
/// Python holder neither bumps nor reads it.
///
/// ## Durable tokens without an fsync per acquisition
///
/// Tokens must grow strictly, even across a crash or a power loss. Instead of flushing every
/// token, the counter reserves ranges:
///
/// - The next token is `last + 1`. When it would pass the ceiling, the new ceiling
///   `token + reservation` is written together with the token and flushed with `fsync` *before*
///   the token is handed out. Otherwise only `last` is written, without `fsync`.
/// - So every token ever handed out is at most a ceiling that had reached the disk before the
///   token was handed out, and the ceiling on disk never decreases (unflushed writes never touch
///   its bytes, and a new ceiling is always larger).
/// - Within one boot of the kernel, every process reads the page cache, where `last` is exact
///   even if it has not reached the disk. Unflushed writes are lost with the kernel, that is,
///   across a reboot: when the boot id stored with `last` is not the running kernel's
///   (`/proc/sys/kernel/random/boot_id`), `last` may be stale and the count continues from the
///   ceiling instead, which is at least every token handed out before. (A disk that fails
///   writeback while the host keeps running can drop unflushed pages too; that, like any
///   hardware failure under the file system, is outside this guarantee.)
///
/// The cost is one `fsync` per ``reservation`` acquisitions, and a gap of up to that many tokens
/// after a reboot (tokens grow strictly; they were never promised to be contiguous). Where no
/// boot id can be read, every acquisition continues from the ceiling and is flushed: slower, as
/// safe. A freshly created counter also flushes the directories above it, so that a power loss
/// cannot take the file away and restart the count. Like any in-place update this relies on the
/// disk writing the few bytes of the header as a whole, the usual sector guarantee.
///
/// Files written by earlier swift-tooz versions (20 digits and a newline, flushed at every
/// acquisition) are read as a ceiling equal to their last token and are continued from it.
enum FencingCounter {
    static let digits = 20
    static let bootIDLength = 36
    /// Where `last` starts; everything written without `fsync` lies at or after this offset.
    static let lastOffset = digits + 1
    static let bootOffset = 2 * (digits + 1)
    /// The bytes before the holder's member id.
    static let headerLength = bootOffset + bootIDLength + 1
    /// How many tokens one flushed ceiling covers.
    static let reservation: UInt64 = 1024
    /// The largest counter file we agree to read: a header and a member id.
    static let maximumFileSize = 1 << 16

    /// The running kernel's boot id, or `nil` where there is none to read.
    static let currentBoot: [UInt8]? = readBootID()

    /// What a counter file holds.
    struct Record: Hashable, Sendable {
        /// No token above it has been handed out; it reached the disk before any token under it.
        var ceiling: UInt64
        /// The last token handed out, exact only during the boot ``boot`` names.
        var last: UInt64
        /// The boot during which ``last`` was written; `nil` for a new file or an earlier
        /// swift-tooz version's file.
        var boot: [UInt8]?
        /// The holder's member id, empty when the key is free.
        var holder: [UInt8]

        static let empty = Record(ceiling: 0, last: 0, boot: nil, holder: [])
    }

    /// Hands out the next token of the counter open as `descriptor` and records `holder`. Call it
    /// holding the key's lock. `boot` is the running kernel's boot id; `syncParents` runs after
    /// the first flush of a new counter, to make its directory entry durable.
    static func next(
        _ descriptor: Int32, path: String, holder: MemberID, boot: [UInt8]? = currentBoot,
        syncParents: () throws(ToozError) -> Void
    ) throws(ToozError) -> UInt64 {
        let stored = try read(descriptor, path: path)
        guard let header = stored.withUnsafeBytes({ parseHeader($0, boot: boot) }) else { throw garbled(path) }
        // After a reboot, `last` may have lost writes that never reached the disk; the ceiling
        // had reached it before any token under it was handed out.
        let base = header.sameBoot ? header.last : header.ceiling
        guard base < UInt64.max else {
            throw ToozError(.backendError, "the fencing counter \(path) is exhausted")
        }
        let token = base + 1
        if token <= header.ceiling {
            // Covered by a flushed ceiling: write `last` and what follows without fsync, leaving
            // the ceiling's bytes alone.
            let image = file(ceiling: header.ceiling, last: token, boot: boot, holder: holder, covering: stored.count)
            try FileSystem.writeAll(image, from: lastOffset, to: descriptor, at: lastOffset, path: path)
            return token
        }
        let ceiling = token + min(reservation, UInt64.max - token)
        let image = file(ceiling: ceiling, last: token, boot: boot, holder: holder, covering: stored.count)
        do {
            try FileSystem.writeAll(image, to: descriptor, path: path)
            try FileSystem.sync(descriptor, path: path)
            if header.ceiling == 0 { try syncParents() }
        } catch {
            // The new ceiling (or the new file's directory entry) may not have reached the disk,
            // yet the next holder would trust it and skip the flush. Put the old file back (best
            // effort), so that the next acquisition flushes again.
            try? FileSystem.writeAll(stored, to: descriptor, path: path)
            try? FileSystem.truncate(descriptor, to: stored.count, path: path)
            throw error
        }
        return token
    }

    /// Forgets `holder`, before the lock is released: one `pwrite` of NUL bytes over its id.
    /// Best effort: the OFD lock, not this file, says whether the key is held.
    static func clearHolder(_ descriptor: Int32, holder: MemberID) {
        var left = holder.rawValue.utf8.count
        var offset = headerLength
        zeros.withUnsafeBytes { zeros in
            while left > 0 {
                let count = pwrite(descriptor, zeros.baseAddress, min(left, zeros.count), off_t(offset))
                guard count > 0 else { return }
                left -= count
                offset += count
            }
        }
    }

    /// The holder recorded at `path`, if any.
    static func holder(at path: String) throws(ToozError) -> MemberID? {
        guard let bytes = try FileSystem.read(path) else { return nil }
        let holder = try parse(bytes, path: path).holder
        guard !holder.isEmpty else { return nil }
        return String(validating: holder, as: UTF8.self).map { MemberID($0) }
    }

    // MARK: Encoding

    static let newline = UInt8(ascii: "\n")
    /// Stored when the boot id cannot be read; never equal to a real one.
    static let unknownBoot = [UInt8](repeating: UInt8(ascii: "-"), count: bootIDLength)
    private static let zeros = [UInt8](repeating: 0, count: 1024)

    /// The whole file: header, the holder's id, and NUL bytes up to `covering` bytes, so that
    /// the rest of a longer id left by a holder that died without clearing it is blanked and the
    /// file never needs truncating.
    ///
    /// Built with C memory functions: this runs on every acquisition, and element-wise array
    /// code is slow in unoptimised builds.
    static func file(ceiling: UInt64, last: UInt64, boot: [UInt8]?, holder: MemberID, covering: Int) -> [UInt8] {
        var id = holder.rawValue
        return id.withUTF8 { id in
            let total = max(covering, headerLength + id.count)
            return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
                let base = UnsafeMutableRawPointer(buffer.baseAddress!)
                memset(base, 0, total)
                write(ceiling, to: base)
                write(last, to: base + lastOffset)
                (boot ?? unknownBoot).withUnsafeBytes { boot in
                    _ = memcpy(base + bootOffset, boot.baseAddress!, bootIDLength)
                }
                base.storeBytes(of: newline, toByteOffset: headerLength - 1, as: UInt8.self)
                if id.count > 0 { memcpy(base + headerLength, id.baseAddress!, id.count) }
                count = total
            }
        }
    }

    /// Writes `value` as ``digits`` decimal digits and a newline at `destination`.
    private static func write(_ value: UInt64, to destination: UnsafeMutableRawPointer) {
        memset(destination, Int32(UInt8(ascii: "0")), digits)
        destination.storeBytes(of: newline, toByteOffset: digits, as: UInt8.self)
        var rest = value
        var index = digits - 1
        while rest > 0 {
            destination.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: index, as: UInt8.self)
            rest /= 10
            index -= 1
        }
    }

    /// `value` as ``digits`` decimal digits and a newline.
    static func encode(_ value: UInt64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: digits + 1) { buffer, count in
            write(value, to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = digits + 1
        }
    }

    /// The ``headerLength`` bytes before the holder.
    static func header(ceiling: UInt64, last: UInt64, boot: [UInt8]) -> [UInt8] {
        encode(ceiling) + encode(last) + boot + [newline]
    }

    /// What ``next(_:path:holder:boot:syncParents:)`` needs of a file: its numbers, whether
    /// `last` was written during `boot`, and whether it is in the current format (not an earlier
    /// version's). `nil` when the file is garbled.
    private static func parseHeader(
        _ bytes: UnsafeRawBufferPointer, boot: [UInt8]?
    ) -> (ceiling: UInt64, last: UInt64, sameBoot: Bool, current: Bool)? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return (0, 0, false, false) }
        guard let ceiling = number(base, count: bytes.count) else { return nil }
        if bytes.count >= headerLength, let last = number(base + lastOffset, count: bytes.count - lastOffset),
            base.load(fromByteOffset: headerLength - 1, as: UInt8.self) == newline
        {
            guard last <= ceiling else { return nil }
            let sameBoot =
                boot.map { boot in
                    boot.withUnsafeBytes { memcmp(base + bootOffset, $0.baseAddress!, bootIDLength) == 0 }
                } ?? false
            return (ceiling, last, sameBoot, true)
        }
        // An earlier swift-tooz version's file: its one number was flushed before it was handed
        // out, so it serves as the ceiling.
        return (ceiling, ceiling, false, false)
    }

    /// Parses a counter file. An empty file is a new counter.
    static func parse(_ bytes: [UInt8], path: String) throws(ToozError) -> Record {
        guard let header = bytes.withUnsafeBytes({ parseHeader($0, boot: nil) }) else { throw garbled(path) }
        if bytes.isEmpty { return .empty }
        guard header.current else {
            return Record(
                ceiling: header.ceiling, last: header.ceiling, boot: nil,
                holder: Array(bytes[lastOffset...].prefix { $0 != 0 })
            )
        }
        return Record(
            ceiling: header.ceiling, last: header.last, boot: Array(bytes[bootOffset..<headerLength - 1]),
            holder: Array(bytes[headerLength...].prefix { $0 != 0 })
        )
    }

    /// The ``digits``-digit number and newline at `start`, which has `count` bytes, or `nil`.
    private static func number(_ start: UnsafeRawPointer, count: Int) -> UInt64? {
        guard count > digits, start.load(fromByteOffset: digits, as: UInt8.self) == newline,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(start.load(as: UInt8.self))
        else { return nil }
        // A leading digit rules out the sign and blanks strtoull would accept; it stops at the
        // newline, so the whole field is digits exactly when it stops there.
        var end: UnsafeMutablePointer<CChar>?
        errno = 0
        let value = strtoull(start.assumingMemoryBound(to: CChar.self), &end, 10)
        guard errno == 0, let end, UnsafeRawPointer(end) == start + digits else { return nil }
        return UInt64(value)
    }

    private static func garbled(_ path: String) -> ToozError {
        ToozError(
            .serializationFailed,
            "the fencing counter \(path) is garbled; refusing to hand out a token that might not grow"
        )
    }

    // MARK: I/O

    /// The whole file, in one `pread` for any ordinary counter.
    static func read(_ descriptor: Int32, path: String) throws(ToozError) -> [UInt8] {
        var capacity = 512
        while true {
            var code: Int32 = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while true {
                    let read = pread(descriptor, buffer.baseAddress, capacity, 0)
                    if read >= 0 {
                        count = read
                        return
                    }
                    if errno != EINTR {
                        code = errno
                        return
                    }
                }
            }
            if code != 0 { throw FileSystem.failure("read", path, call: "pread", code: code) }
            // A regular file reads short only at its end; a full buffer may have missed some.
            if bytes.count < capacity { return bytes }
            guard capacity < maximumFileSize else {
                throw ToozError(.serializationFailed, "the fencing counter \(path) is larger than \(maximumFileSize) bytes")
            }
            capacity *= 8
        }
    }

    private static func readBootID() -> [UInt8]? {
        #if os(Linux)
        guard let bytes = try? FileSystem.read("/proc/sys/kernel/random/boot_id") else { return nil }
        let id = bytes.last == newline ? Array(bytes.dropLast()) : bytes
        guard id.count == bootIDLength, !id.contains(newline), id != unknownBoot else { return nil }
        return id
        #else
        return nil
        #endif
    }
}
