#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tooz

/// The `file://` backend: coordination between threads and processes of one host through a
/// directory, in Python tooz 9.1.0's file layout, so Python and Swift members share groups and
/// locks.
///
/// - Groups and members are files (see ``FileLayout``); a member is alive while its record's
///   modification time is within `membershipTTL` (tooz's `timeout`, 10 s), which heartbeats
///   refresh.
/// - Locks are open-file-description locks on `DIR/<name>`, which exclude Python's `lockf`
///   locks on the same files; the kernel frees them when a holder dies, so leases are
///   ``LeaseKind/session`` leases and nothing needs renewing.
/// - Beyond tooz: capability updates, leader election with `leader(of:)`, and durable fencing
///   tokens, in a `.swift-tooz` directory that Python ignores.
///
/// File I/O is small (a few hundred bytes per call) and synchronous, done on the calling task;
/// only waiting (for `.driver_lock` or a busy lock) suspends.
public struct FileBackend: CoordinationBackend {
    /// The absolute root directory.
    public var directory: String { layout.root }
    /// How long a member stays alive after its last heartbeat. tooz: `timeout`.
    public let membershipTTL: Duration
    /// How long an operation waits for `DIR/.driver_lock` before failing with `timedOut`.
    public let driverLockTimeout: Duration

    let layout: FileLayout
    /// Lock and fencing files kept open between acquisitions.
    let openLockFiles = FileLockCache()
    let safeNames = SafeNameCache()
    let spareRecords = SpareRecordFiles()

    /// A backend on `directory`, which must be an absolute path; it is created on connect.
    ///
    /// - Throws: `invalidConfiguration` for a relative path, `..` components or the root directory.
    public init(directory: String, membershipTTL: Duration = .seconds(10), driverLockTimeout: Duration = .seconds(10))
        throws(ToozError)
    {
        self.layout = FileLayout(root: try Self.normalizedDirectory(directory))
        self.membershipTTL = membershipTTL
        self.driverLockTimeout = driverLockTimeout
    }

    /// Built once: the coordinator reads it on every operation.
    public var info: BackendInfo { Self.staticInfo }

    private static let staticInfo = BackendInfo(
        name: "file",
        features: [.groups, .membership, .updateCapabilities, .leaderElection, .leaderQuery, .locks],
        fencing: .durable,
        eventDelivery: .polled,
        leaseKind: .session,
        characteristics: [.distributedAcrossThreads, .distributedAcrossProcesses, .nonTimeoutBased],
        // Ids are hashed into file names, so only NUL (the core's rule) is out. Lock names are
        // paths: FileLayout refuses absolute names, `..`, and names on the layout.
        nameRules: NameRules(maximumLength: 1024)
    )

    // MARK: Lifecycle

    /// Creates the directory and tooz's `groups` and `tmp` (plus ours) with mode 0700.
    ///
    /// - Throws: `connectionFailed` naming the path when a directory cannot be created or used.
    public func connect(_ context: BackendContext) async throws {
        do throws(ToozError) {
            try FileSystem.makeDirectoryTree(layout.root)
            for directory in layout.directories.dropFirst() { try FileSystem.makeDirectory(directory) }
            guard access(layout.root, R_OK | W_OK | X_OK) == 0 else {
                throw FileSystem.failure("use the directory", layout.root, call: "access")
            }
            removeAbandonedTemporaryFiles()
        } catch {
            throw ToozError(
                .connectionFailed, "could not open the file backend directory: \(error.message)", underlying: error
            )
        }
    }

    /// Closes every file kept open. Locks still held go with their grants (``HeldFileLock``).
    public func disconnect() async {
        for handles in openLockFiles.removeAll() { handles.close() }
        for spare in spareRecords.removeAll() { _ = unlink(spare) }
    }

    /// Removes our temporary files in `DIR/tmp` that are a day old: spares and half-written
    /// records that a crashed process left. A live backend's spare may go too; it then just
    /// falls back to a new file. Best effort.
    func removeAbandonedTemporaryFiles() {
        let cutoff = FileSystem.wallClockNow().tv_sec - 24 * 3600
        for name in (try? FileSystem.list(layout.temporary)) ?? []
        where name.hasPrefix(SpareRecordFiles.prefix) && name.hasSuffix(SpareRecordFiles.suffix) {
            let path = layout.temporary + "/" + name
            guard let status = try? FileSystem.status(path), status.isRegularFile,
                status.modificationTime.tv_sec < cutoff
            else { continue }
            _ = unlink(path)
        }
    }

    public func ping() async throws {
        guard try FileSystem.status(layout.root) != nil else {
            throw ToozError(.connectionFailed, "the file backend directory \(layout.root) does not exist")
        }
    }

    // MARK: The driver lock

    /// Runs `body` holding `DIR/.driver_lock`, the lock tooz takes around every member operation.
    ///
    /// Each call opens its own descriptor, so concurrent calls of this process exclude each
    /// other like those of other processes. Python holds the lock for a few file operations,
    /// so the wait is polled, starting at 50 µs and doubling up to 10 ms.
    func withDriverLock<Result>(_ body: () throws(ToozError) -> Result) async throws -> Result {
        let file = try FileSystem.openOrCreate(layout.driverLock)
        let clock = ContinuousClock()
        let deadline = clock.now + driverLockTimeout
        var pause = Duration.microseconds(50)
        while try !OFDLock.tryLock(file.rawValue, path: layout.driverLock) {
            guard clock.now < deadline else {
                throw ToozError(.timedOut, "\(layout.driverLock) stayed locked by another process for \(driverLockTimeout)")
            }
            if Task.isCancelled {
                // A cancelled run() still leaves its groups on the way out, and a cancelled
                // task's sleep returns at once; the lock is held for a few file operations at a
                // time, so wait for it without the cancellable sleep (bounded by the deadline).
                usleep(useconds_t(pause / .microseconds(1)))
            } else {
                try await Task.sleep(for: pause)
            }
            pause = min(pause * 2, .milliseconds(10))
        }
        // Dropping `file` closes the descriptor, which releases the lock.
        return try body()
    }

    // MARK: Paths

    static func normalizedDirectory(_ path: String) throws(ToozError) -> String {
        func refuse(_ why: String) -> ToozError {
            ToozError(.invalidConfiguration, "file backend directory \(path.debugDescription) \(why)")
        }
        guard path.hasPrefix("/") else { throw refuse("is not an absolute path; use file:///ABSOLUTE/DIR") }
        if path.utf8.contains(0) { throw refuse("contains a NUL character") }
        let components = path.split(separator: "/").filter { $0 != "." }
        if components.contains("..") { throw refuse("contains a \"..\" component") }
        guard !components.isEmpty else { throw refuse("is the root directory") }
        return "/" + components.joined(separator: "/")
    }
}
