#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One System V semaphore (a set of one), as sysv_ipc's `Semaphore` uses it.
///
/// Every call but ``waitingDecrement(timeout:)`` is a non-blocking system call (decrements use
/// `IPC_NOWAIT`), so no cooperative thread ever sleeps in the kernel; that one call is made on a
/// Dispatch thread only (see ``IPCLock/waitForRelease(_:timeout:)``).
struct SysVSemaphore: Hashable, Sendable {
    /// The kernel's semaphore id (what `ipcs -s` calls semid).
    let id: Int32

    /// sysv_ipc's default mode, so that Python and Swift processes of one user open each other's.
    static let mode: Int32 = 0o600

    /// Creates the semaphore of `key` with `IPC_CREAT | IPC_EXCL`. Returns `nil` when it exists.
    /// Its value is 0 until ``setValue(_:)``, as with sysv_ipc.
    static func create(key: IPCKey) throws(ToozError) -> SysVSemaphore? {
        let id = semget(key.rawValue, 1, mode | IPC_CREAT | IPC_EXCL)
        if id >= 0 { return SysVSemaphore(id: id) }
        let code = errno
        if code == EEXIST { return nil }
        throw SysVError.failure("semget(IPC_CREAT|IPC_EXCL)", "semaphore \(key)", errno: code)
    }

    /// Opens the existing semaphore of `key`. Returns `nil` when there is none.
    static func open(key: IPCKey) throws(ToozError) -> SysVSemaphore? {
        let id = semget(key.rawValue, 1, 0)
        if id >= 0 { return SysVSemaphore(id: id) }
        let code = errno
        // EIDRM: removed between the kernel's lookup and our access.
        if code == ENOENT || code == EIDRM { return nil }
        throw SysVError.failure("semget", "semaphore \(key)", errno: code)
    }

    /// `SETVAL`. Returns `false` when the semaphore was removed meanwhile.
    func setValue(_ value: Int32) throws(ToozError) -> Bool {
        // union semun { int val; … }: `val` lives in the union's first bytes on every ABI.
        var argument: UInt = 0
        withUnsafeMutableBytes(of: &argument) { $0.storeBytes(of: value, as: Int32.self) }
        return try control(SETVAL, "semctl(SETVAL)", argument: argument) != nil
    }

    /// `GETVAL`, or `nil` when the semaphore was removed.
    func value() throws(ToozError) -> Int32? {
        try control(GETVAL, "semctl(GETVAL)")
    }

    /// `GETNCNT`: how many threads sleep waiting to decrement it (tooz's blocked acquirers and
    /// our waiters), or `nil` when the semaphore was removed.
    func waitingCount() throws(ToozError) -> Int32? {
        try control(GETNCNT, "semctl(GETNCNT)")
    }

    /// `IPC_RMID`. Returns `false` when it had already been removed. Processes blocked on it
    /// wake with `EIDRM`, which is how tooz's waiters notice a release.
    func remove() throws(ToozError) -> Bool {
        try control(IPC_RMID, "semctl(IPC_RMID)") != nil
    }

    /// The outcome of one non-blocking decrement.
    enum DecrementResult: Sendable, Equatable {
        case acquired
        /// The value was 0: someone holds it.
        case busy
        /// The semaphore was removed before or while we tried.
        case removed
    }

    /// One `semop(-1)` with `SEM_UNDO | IPC_NOWAIT`: the kernel gives the unit back if this process
    /// dies holding it, and the call never sleeps.
    func tryDecrement() throws(ToozError) -> DecrementResult {
        var operation = sembuf(sem_num: 0, sem_op: -1, sem_flg: Int16(SEM_UNDO | IPC_NOWAIT))
        while true {
            if semop(id, &operation, 1) == 0 { return .acquired }
            let code = errno
            switch code {
            case EAGAIN: return .busy
            case EIDRM, EINVAL: return .removed
            case EINTR: continue
            default: throw SysVError.failure("semop(-1, SEM_UNDO|IPC_NOWAIT)", "semaphore id \(id)", errno: code)
            }
        }
    }

    /// Takes a semaphore we have just created (value 0, so busy to everyone else) in one
    /// `semop` of two operations applied atomically: `+1` without `SEM_UNDO`, then `-1` with it.
    ///
    /// The value stays 0, and the kernel records the `SEM_UNDO` adjustment that gives the unit
    /// back if this process dies: exactly the state that tooz's `SETVAL(1)` followed by
    /// `semop(-1, SEM_UNDO)` leaves, in one system call instead of two.
    func takeCreated() throws(ToozError) -> DecrementResult {
        var operations = (
            sembuf(sem_num: 0, sem_op: 1, sem_flg: Int16(IPC_NOWAIT)),
            sembuf(sem_num: 0, sem_op: -1, sem_flg: Int16(SEM_UNDO | IPC_NOWAIT))
        )
        while true {
            let result = withUnsafeMutableBytes(of: &operations) { bytes in
                semop(id, bytes.baseAddress!.assumingMemoryBound(to: sembuf.self), 2)
            }
            if result == 0 { return .acquired }
            let code = errno
            switch code {
            case EAGAIN: return .busy  // cannot happen at value 0; reported rather than trusted
            case EIDRM, EINVAL: return .removed
            case EINTR: continue
            default: throw SysVError.failure("semop(+1, -1 SEM_UNDO)", "semaphore id \(id)", errno: code)
            }
        }
    }

    /// The outcome of one blocking decrement.
    enum WaitResult: Sendable, Equatable {
        /// The decrement succeeded: a unit was free or came back (a holder died and `SEM_UNDO`
        /// returned it). The caller now holds that unit.
        case acquired
        /// The semaphore was removed before or while we waited: tooz's release.
        case removed
        /// `timeout` passed, or a signal interrupted the wait.
        case timedOut
    }

    /// One `semtimedop(-1)` with `SEM_UNDO`: sleeps in the kernel until the decrement succeeds,
    /// the semaphore is removed (`EIDRM`, at once), or `timeout` passes. Blocks the calling
    /// thread, so it must never run on the Swift concurrency pool.
    func waitingDecrement(timeout: Duration) throws(ToozError) -> WaitResult {
        guard let semtimedop = SemaphoreTimedOperation.function else {
            throw ToozError(.backendError, "semtimedop is not available in this C library")
        }
        let (seconds, attoseconds) = max(timeout, .zero).components
        var limit = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var operation = sembuf(sem_num: 0, sem_op: -1, sem_flg: Int16(SEM_UNDO))
        if semtimedop(id, &operation, 1, &limit) == 0 { return .acquired }
        let code = errno
        switch code {
        case EAGAIN, EINTR: return .timedOut
        case EIDRM, EINVAL: return .removed
        default: throw SysVError.failure("semtimedop(-1, SEM_UNDO)", "semaphore id \(id)", errno: code)
        }
    }

    /// `semop(+1)` with `SEM_UNDO`: hands back a unit taken by ``waitingDecrement(timeout:)``,
    /// cancelling that decrement's undo adjustment. Returns `false` when the semaphore was
    /// removed meanwhile (the kernel then drops the adjustment itself).
    func giveBack() throws(ToozError) -> Bool {
        var operation = sembuf(sem_num: 0, sem_op: 1, sem_flg: Int16(SEM_UNDO | IPC_NOWAIT))
        while true {
            if semop(id, &operation, 1) == 0 { return true }
            let code = errno
            switch code {
            case EIDRM, EINVAL: return false
            case EINTR: continue
            default: throw SysVError.failure("semop(+1, SEM_UNDO)", "semaphore id \(id)", errno: code)
            }
        }
    }

    /// Calls `semctl`; `nil` when the semaphore is gone (`EINVAL`, `EIDRM`).
    private func control(_ command: Int32, _ call: String, argument: UInt = 0) throws(ToozError) -> Int32? {
        guard let semctl = SemaphoreControl.function else {
            throw ToozError(.backendError, "semctl is not available in this C library")
        }
        let result = semctl(id, 0, command, argument)
        if result >= 0 { return result }
        let code = errno
        if code == EINVAL || code == EIDRM { return nil }
        throw SysVError.failure(call, "semaphore id \(id)", errno: code)
    }
}

/// `semctl(int, int, int, ...)` is variadic, and Swift does not import variadic C functions. Its
/// optional fourth argument is a `union semun` passed by value: one pointer-sized integer in the
/// same register a fixed fourth integer argument would use (x86-64 and AArch64 Linux pass variadic
/// integers exactly like fixed ones). So the C library's own `semctl`, looked up once, is called
/// through a fixed four-argument C function type.
enum SemaphoreControl {
    typealias Function = @convention(c) (Int32, Int32, Int32, UInt) -> Int32

    static let function: Function? = {
        // A nil handle is glibc's and musl's RTLD_DEFAULT: search the process's global symbols.
        guard let symbol = dlsym(nil, "semctl") else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }()
}

/// `semtimedop` is declared by glibc only under `_GNU_SOURCE`, which Swift's Glibc module does
/// not define, so it is looked up once like `semctl`. Its signature is fixed (not variadic).
enum SemaphoreTimedOperation {
    typealias Function = @convention(c) (Int32, UnsafeMutablePointer<sembuf>?, Int, UnsafePointer<timespec>?) -> Int32

    static let function: Function? = {
        guard let symbol = dlsym(nil, "semtimedop") else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }()
}
