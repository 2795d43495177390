#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// Turns SIGINT, SIGTERM and SIGHUP into an async sequence, so a command can react to them with
/// structured concurrency: stop waiting, pass them on to a child, leave a group cleanly.
///
/// While a watcher is active, the signals' default action (death) is suspended; ``stop()``
/// restores it. Children are spawned with default dispositions (see ``ChildProcess``), so the
/// suspension never leaks into them. Iterate ``signals`` from one task at a time.
final class SignalWatcher: Sendable {
    static let termination: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    let signals: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let numbers: [Int32]
    private let sources: Mutex<[any DispatchSourceSignal]>

    init(_ numbers: [Int32] = SignalWatcher.termination) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .unbounded)
        self.signals = stream
        self.continuation = continuation
        self.numbers = numbers
        var sources: [any DispatchSourceSignal] = []
        for number in numbers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = Mutex(sources)
    }

    /// Restores the default actions, so a second Ctrl-C during a slow clean-up still kills.
    func stop() {
        let sources = self.sources.withLock { sources in
            defer { sources.removeAll() }
            return sources
        }
        for source in sources { source.cancel() }
        for number in numbers { signal(number, SIG_DFL) }
        continuation.finish()
    }

    deinit {
        stop()
    }

    /// Runs `body` until it returns or a signal arrives. On a signal, `body` is cancelled, awaited
    /// (so its clean-up runs), and ``Interrupted`` is thrown.
    func runUntilSignalled<Result: Sendable>(
        _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                for await number in self.signals {
                    // A second signal of the same kind kills at once.
                    signal(number, SIG_DFL)
                    throw Interrupted(signal: number)
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw CancellationError()
        }
    }
}
