import Dispatch

/// Runs a blocking system call on a Dispatch thread and awaits it, so that the Swift concurrency
/// pool (as many threads as cores) never sleeps in the kernel. This is the same offload SwiftNIO's
/// `NIOThreadPool` does for blocking file I/O; there is no non-blocking System V call to wait on
/// a semaphore, and the waits are short (bounded by their timeout).
///
/// Each call gets a serial queue of its own rather than `DispatchQueue.global()`: the global
/// queues run only about as many items at once as there are cores, and notice a thread sleeping
/// in the kernel only after a while, so a few waits would queue behind each other and a release
/// would wake a waiter late. A new serial queue targets Dispatch's overcommitting pool, which
/// starts a thread whenever all of its threads are busy.
///
/// The wait ends at the first of: the call's result, cancellation of the awaiting task (`nil`),
/// or someone else opening the gate (``OneShot/resume(with:)``). The blocked thread then ends on
/// its own at the call's timeout at the latest, and its result is dropped. The continuation is
/// resumed exactly once whichever way.
enum BlockingOffload {
    static func run<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value? {
        await run(ending: OneShot(), work)
    }

    /// Like ``run(_:)``, ending early when `gate` is opened by someone else first.
    static func run<Value: Sendable>(ending gate: OneShot<Value>, _ work: @escaping @Sendable () -> Value) async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                guard gate.install(continuation) else { return }  // opened before it started
                DispatchQueue(label: "swift-tooz.blocking-offload").async {
                    gate.resume(with: work())
                }
            }
        } onCancel: {
            gate.resume(with: nil)
        }
    }
}
