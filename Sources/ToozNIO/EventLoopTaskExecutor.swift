import NIOCore

/// Runs tasks on one NIO event loop: the loop that does a backend's I/O.
///
/// A task that prefers this executor (`withTaskExecutorPreference`) runs its code on the event
/// loop's own thread, so a request it sends is written without waking the loop, and the reply's
/// continuation resumes in the same loop iteration instead of waking a thread of the cooperative
/// pool. A sequential caller then costs one wake-up per round trip (the reply's), as a blocking
/// socket does, instead of two or three. Code that runs here must not block.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the tasks run on.
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // From the loop's own thread this only appends to the loop's task queue: no wake-up.
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
