import Testing
import ToozBackends

/// Python tooz 9.1.0 and swift-tooz exclude each other on the same lock, on file:// (fcntl
/// record locks on DIR/<name>) and ipc:// (System V semaphores keyed by tooz's ftok).
@Suite("Interop: locks with Python tooz", .requiresPythonTooz, .timeLimit(.minutes(3)))
struct LockInteropTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case file, ipc
        var testDescription: String { "\(rawValue)://" }
    }

    /// A backend URL for one test: a private directory for file://; ipc:// is host-wide, so
    /// there the lock names are unique instead.
    static func url(for backend: Backend, in directory: TemporaryDirectory) -> String {
        switch backend {
        case .file: directory.fileURL
        case .ipc: "ipc://"
        }
    }

    /// Takes `lock` on the Python side. tooz's ipc:// driver cannot try once on sysv_ipc
    /// builds without semtimedop (`acquire(blocking=False)` raises NotImplemented there), so
    /// on those it takes the free lock with a blocking acquire on a thread of the peer.
    static func pythonTakes(_ lock: String, _ python: PythonPeer, on backend: Backend) async throws {
        if backend == .ipc && !python.hello.semaphoreTimeoutSupported {
            _ = try await python.startBlockingAcquire(lock)
            let state = try await python.waitForBackgroundAcquire(lock, seconds: 30)
            #expect(state == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))
        } else {
            #expect(try await python.tryAcquire(lock))
        }
    }

    @Test("A Python holder keeps Swift out until it releases", arguments: Backend.allCases)
    func pythonHolds(backend: Backend) async throws {
        try await TemporaryDirectory.with("lock-py") { directory in
            let url = Self.url(for: backend, in: directory)
            let lockName = uniqueName("interop-lock")
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: uniqueName("py"))
                let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
                try await coordinator.withRunning {
                    try await Self.pythonTakes(lockName, python, on: backend)

                    let lock = try coordinator.lock(named: LockName(lockName))
                    #expect(try await lock.tryAcquire() == nil)
                    await #expect {
                        try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                            Issue.record("the body ran while Python held \(lockName)")
                        }
                    } throws: { error in
                        (error as? ToozError)?.code == .lockBusy
                    }

                    #expect(try await python.release(lockName))
                    let lease = try await lock.tryAcquire()
                    #expect(lease != nil, "Swift could not take \(lockName) after Python released it")
                    #expect(try await lock.release())
                }
            }
        }
    }

    @Test("A Swift holder keeps Python out until it releases", arguments: Backend.allCases)
    func swiftHolds(backend: Backend) async throws {
        try await TemporaryDirectory.with("lock-swift") { directory in
            let url = Self.url(for: backend, in: directory)
            let lockName = uniqueName("interop-lock")
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: uniqueName("py"))
                let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
                try await coordinator.withRunning {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        // One try from Python fails (or, on ipc:// without semtimedop, is not
                        // offered by tooz at all).
                        do {
                            #expect(try await python.tryAcquire(lockName) == false)
                        } catch let error as PythonPeer.RemoteError
                            where backend == .ipc && !python.hello.semaphoreTimeoutSupported
                        {
                            #expect(error.type == "NotImplemented")
                        }
                        // A blocking acquire from Python waits while Swift holds the lock.
                        let started = try await python.startBlockingAcquire(lockName)
                        #expect(started.done == false)
                        let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 1)
                        #expect(meanwhile.done == false, "Python acquired \(lockName) while Swift held it: \(meanwhile)")
                    }
                    // withLock has released it: the waiting Python acquire now returns.
                    let after = try await python.waitForBackgroundAcquire(lockName, seconds: 60)
                    #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))

                    // And Python's hold is real: Swift is kept out until Python releases.
                    let lock = try coordinator.lock(named: LockName(lockName))
                    #expect(try await lock.tryAcquire() == nil)
                    #expect(try await python.release(lockName))
                    #expect(try await lock.tryAcquire() != nil)
                    #expect(try await lock.release())
                }
            }
        }
    }
}
