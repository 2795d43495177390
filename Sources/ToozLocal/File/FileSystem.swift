#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// A failed system call, kept as the underlying error of a ``ToozError``.
struct SystemCallError: Error, CustomStringConvertible, Sendable {
    var call: String
    var path: String
    var code: Int32

    var description: String { "\(call)(\(path)) failed: \(FileSystem.describe(code)) (errno \(code))" }
}

/// The small, synchronous POSIX file operations of the `file://` backend.
///
/// Every call here touches a few hundred bytes on a local file system, so they run directly on
/// the calling task instead of a thread pool: a hop to another thread would cost more than the
/// I/O itself. Nothing here ever blocks on a lock (see ``OFDLock``).
enum FileSystem {
    /// Files the backend creates: readable and writable by the owner only.
    static let fileMode: mode_t = 0o600
    /// Directories the backend creates: usable by the owner only.
    static let directoryMode: mode_t = 0o700
    /// The largest member or metadata record we agree to read; oslo records are far smaller.
    static let maximumRecordSize = 16 << 20

    static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// The `backendError` for a failed call, naming the path.
    static func failure(_ what: String, _ path: String, call: String, code: Int32 = errno) -> ToozError {
        ToozError(
            .backendError,
            "could not \(what) \(path): \(describe(code))",
            underlying: SystemCallError(call: call, path: path, code: code)
        )
    }

    // MARK: Opening

    /// Opens `path` with `flags`, or returns `nil` when it does not exist.
    static func openIfExists(_ path: String, flags: Int32) throws(ToozError) -> FileDescriptor? {
        while true {
            let descriptor = open(path, flags | O_CLOEXEC)
            if descriptor >= 0 { return FileDescriptor(descriptor) }
            let code = errno
            if code == EINTR { continue }
            if code == ENOENT { return nil }
            throw failure("open", path, call: "open", code: code)
        }
    }

    /// Opens `path` for reading and writing, creating it with mode 0600 when missing.
    static func openOrCreate(_ path: String, makeParents: () throws(ToozError) -> Void = {}) throws(ToozError)
        -> FileDescriptor
    {
        var created = false
        return try openOrCreate(path, created: &created, makeParents: makeParents)
    }

    /// Opens `path` for reading and writing, creating it with mode 0600 when missing; `created`
    /// tells whether this call created it. `makeParents` runs once if the parent directory is
    /// missing, so the common case (the file exists) costs one system call.
    static func openOrCreate(
        _ path: String, created: inout Bool, makeParents: () throws(ToozError) -> Void = {}
    ) throws(ToozError) -> FileDescriptor {
        var madeParents = false
        for _ in 0..<8 {
            let existing = open(path, O_RDWR | O_CLOEXEC)
            if existing >= 0 {
                created = false
                return FileDescriptor(existing)
            }
            var code = errno
            if code == EINTR { continue }
            guard code == ENOENT else { throw failure("open", path, call: "open", code: code) }
            // O_EXCL tells us the file is new, so only files we create get their mode forced:
            // a lock file Python tooz created keeps its own mode.
            let new = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
            if new >= 0 {
                let descriptor = FileDescriptor(new)
                // The umask may have removed bits from 0600; set it exactly.
                if fchmod(descriptor.rawValue, fileMode) != 0 {
                    throw failure("set the mode of", path, call: "fchmod")
                }
                created = true
                return descriptor
            }
            code = errno
            if code == ENOENT, !madeParents {
                try makeParents()
                madeParents = true
                continue
            }
            // Created by someone else between the two opens: open it again.
            if code == EEXIST || code == EINTR { continue }
            throw failure("create", path, call: "open", code: code)
        }
        throw ToozError(.backendError, "could not open \(path): it keeps appearing and disappearing")
    }

    // MARK: Directories

    /// Creates `path` with mode 0700 unless it exists. Returns whether this call created it.
    @discardableResult
    static func makeDirectory(_ path: String) throws(ToozError) -> Bool {
        if mkdir(path, directoryMode) == 0 {
            if chmod(path, directoryMode) != 0 { throw failure("set the mode of", path, call: "chmod") }
            return true
        }
        let code = errno
        if code == EEXIST {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { return false }
            throw ToozError(
                .backendError, "could not use \(path) as a directory: \(describe(ENOTDIR))",
                underlying: SystemCallError(call: "mkdir", path: path, code: ENOTDIR)
            )
        }
        throw failure("create the directory", path, call: "mkdir", code: code)
    }

    /// Creates `components` one by one below `root` (which must exist), each with mode 0700.
    static func makeDirectories(_ components: some Sequence<Substring>, under root: String) throws(ToozError) {
        var path = root
        for component in components {
            path += "/" + component
            try makeDirectory(path)
        }
    }

    /// Creates an absolute `path` and every missing parent, each with mode 0700.
    static func makeDirectoryTree(_ path: String) throws(ToozError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            var status = stat()
            if stat(current, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { continue }
            try makeDirectory(current)
        }
    }

    /// The names in `path`, without `.` and `..`, or `nil` when it does not exist.
    static func list(_ path: String) throws(ToozError) -> [String]? {
        guard let directory = opendir(path) else {
            let code = errno
            if code == ENOENT { return nil }
            throw failure("list", path, call: "opendir", code: code)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw failure("list", path, call: "readdir") }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Removes an empty directory.
    static func removeDirectory(_ path: String) throws(ToozError) {
        guard rmdir(path) == 0 else { throw failure("remove the directory", path, call: "rmdir") }
    }

    /// Removes `path` and everything below it; for tests and tools, never on a live layout.
    static func removeTree(_ path: String) throws(ToozError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw failure("inspect", path, call: "lstat")
        }
        if status.st_mode & S_IFMT == S_IFDIR {
            for name in try list(path) ?? [] { try removeTree(path + "/" + name) }
            try removeDirectory(path)
        } else {
            _ = try unlinkIfExists(path)
        }
    }

    // MARK: Files

    /// Metadata of `path`, or `nil` when it does not exist.
    static func status(_ path: String) throws(ToozError) -> stat? {
        var status = stat()
        if stat(path, &status) == 0 { return status }
        let code = errno
        if code == ENOENT || code == ENOTDIR { return nil }
        throw failure("inspect", path, call: "stat", code: code)
    }

    static func status(ofRaw descriptor: Int32, path: String) throws(ToozError) -> stat {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("inspect", path, call: "fstat") }
        return status
    }

    /// The identity of the file `path` names now, or `nil` when it names none.
    ///
    /// Asks `statx` for the inode number only. A full `stat` reads the timestamps, which on
    /// Linux 6.13+ (multigrain timestamps) makes the next write to the file stamp a fine-grained
    /// time and dirty the inode: a journal update on every fencing-counter write, where the
    /// coarse clock would let most of them skip it.
    static func identity(of path: String) throws(ToozError) -> FileIdentity? {
        guard let statx = statxFunction, let buffer = malloc(256) else { return try status(path).map(FileIdentity.init) }
        defer { free(buffer) }
        while statx(AT_FDCWD, path, 0, statxInodeMask, buffer) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == ENOENT || code == ENOTDIR { return nil }
            // A kernel or sandbox without statx: the same answer the slow way.
            if code == ENOSYS || code == EPERM { return try status(path).map(FileIdentity.init) }
            throw failure("inspect", path, call: "statx", code: code)
        }
        return FileIdentity(
            deviceMajor: buffer.load(fromByteOffset: 136, as: UInt32.self),
            deviceMinor: buffer.load(fromByteOffset: 140, as: UInt32.self),
            inode: buffer.load(fromByteOffset: 32, as: UInt64.self)
        )
    }

    /// `statx(2)` from the C library, looked up at run time: Swift's Glibc module does not
    /// declare it (it needs `_GNU_SOURCE`).
    private typealias StatxFunction = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UInt32, UnsafeMutableRawPointer) -> Int32
    private static let statxFunction: StatxFunction? = {
        #if os(Linux)
        guard let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "statx") else { return nil }
        return unsafeBitCast(symbol, to: StatxFunction.self)
        #else
        return nil
        #endif
    }()
    /// `STATX_INO`.
    private static let statxInodeMask: UInt32 = 0x100

    /// The whole contents of `path`, or `nil` when it does not exist.
    static func read(_ path: String) throws(ToozError) -> [UInt8]? {
        guard let descriptor = try openIfExists(path, flags: O_RDONLY) else { return nil }
        return try readAll(descriptor, path: path)
    }

    /// Everything from offset 0 of an open file.
    static func readAll(_ descriptor: borrowing FileDescriptor, path: String, limit: Int = maximumRecordSize) throws(ToozError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor.rawValue, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", path, call: "pread")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit {
                throw ToozError(.serializationFailed, "\(path) is larger than \(limit) bytes; it is not a tooz record")
            }
        }
    }

    /// Writes all of `bytes` at `offset`.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32, at offset: Int = 0, path: String) throws(ToozError) {
        try writeAll(bytes, from: 0, to: descriptor, at: offset, path: path)
    }

    /// Writes `bytes[start...]` at `offset`.
    static func writeAll(_ bytes: [UInt8], from start: Int, to descriptor: Int32, at offset: Int, path: String)
        throws(ToozError)
    {
        var written = start
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                pwrite(descriptor, raw.baseAddress! + written, raw.count - written, off_t(offset + written - start))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("write", path, call: "pwrite")
            }
            written += count
        }
    }

    static func truncate(_ descriptor: Int32, to length: Int, path: String) throws(ToozError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw failure("truncate", path, call: "ftruncate") }
    }

    static func sync(_ descriptor: Int32, path: String) throws(ToozError) {
        guard fsync(descriptor) == 0 else { throw failure("flush", path, call: "fsync") }
    }

    /// Flushes a directory, so that a file just created in it survives a crash.
    static func syncDirectory(_ path: String) throws(ToozError) {
        guard let descriptor = try openIfExists(path, flags: O_RDONLY | O_DIRECTORY) else { return }
        try sync(descriptor.rawValue, path: path)
    }

    /// A new name for a temporary file of ours in `directory`.
    static func temporaryName(in directory: String) -> String {
        directory + "/" + SpareRecordFiles.prefix + LockOwner.uniqueToken() + SpareRecordFiles.suffix
    }

    /// Replaces `path` with `bytes` at once: readers see the old file or the new one, never half
    /// of either. The temporary file lives in `temporaryDirectory` (tooz's `DIR/tmp`), on the
    /// same file system, so the rename is atomic.
    static func writeAtomically(_ bytes: [UInt8], to path: String, temporaryDirectory: String) throws(ToozError) {
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 {
            temporary = temporaryName(in: temporaryDirectory)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
            if descriptor >= 0 || (errno != EEXIST && errno != EINTR) { break }
        }
        guard descriptor >= 0 else { throw failure("create a temporary file in", temporaryDirectory, call: "open") }
        let file = FileDescriptor(descriptor)
        do throws(ToozError) {
            if fchmod(file.rawValue, fileMode) != 0 { throw failure("set the mode of", temporary, call: "fchmod") }
            try writeAll(bytes, to: file.rawValue, path: temporary)
            // No fsync: membership records are rewritten by every heartbeat and mean nothing
            // after a reboot, and tooz does not sync them either.
            guard rename(temporary, path) == 0 else { throw failure("replace", path, call: "rename") }
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    /// Replaces `path` with `bytes` at once, like ``writeAtomically(_:to:temporaryDirectory:)``,
    /// but by rewriting the existing file `spare` (in the same directory as a temporary file
    /// would be) and renaming it into place: no new inode. Returns `false`, leaving `path` alone
    /// and `spare` removed, when the spare cannot be used; the caller then falls back.
    static func writeAtomically(_ bytes: [UInt8], to path: String, reusing spare: String) -> Bool {
        let descriptor = open(spare, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        let file = FileDescriptor(descriptor)
        var status = stat()
        // A spare that is not a plain file of ours alone (another name links it) is not reused.
        guard fstat(file.rawValue, &status) == 0, status.isRegularFile, status.st_nlink == 1,
            fchmod(file.rawValue, fileMode) == 0,
            (try? writeAll(bytes, to: file.rawValue, path: spare)) != nil,
            Int(status.st_size) <= bytes.count || ftruncate(file.rawValue, off_t(bytes.count)) == 0,
            rename(spare, path) == 0
        else {
            _ = unlink(spare)
            return false
        }
        return true
    }

    /// Removes a file. Returns `false` when it did not exist.
    static func unlinkIfExists(_ path: String) throws(ToozError) -> Bool {
        if unlink(path) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw failure("remove", path, call: "unlink", code: code)
    }

    /// Sets the modification time of `path` to now (tooz's `os.utime(path, None)`).
    /// Returns `false` when it does not exist.
    static func touch(_ path: String) throws(ToozError) -> Bool {
        if utimensat(AT_FDCWD, path, nil, 0) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw failure("update the time of", path, call: "utimensat", code: code)
    }

    /// Sets the modification (and access) time of `path`; lets tests age a member record.
    static func setModificationTime(_ path: String, to time: timespec) throws(ToozError) {
        var times = [time, time]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else {
            throw failure("update the time of", path, call: "utimensat")
        }
    }

    // MARK: Time

    /// The wall clock, which is what file modification times are measured on.
    static func wallClockNow() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }

    static func duration(_ time: timespec) -> Duration {
        .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
    }
}

extension stat {
    /// The last modification time, whatever the platform calls the field.
    var modificationTime: timespec {
        #if canImport(Darwin)
        st_mtimespec
        #else
        st_mtim
        #endif
    }

    var isRegularFile: Bool { st_mode & S_IFMT == S_IFREG }
}
