import Synchronization

/// A thread-safe list of values, for recording what happened in one task and checking it in
/// another.
public final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    public init() {}

    public func append(_ value: Value) { storage.withLock { $0.append(value) } }
    public var values: [Value] { storage.withLock { $0 } }
    public var count: Int { storage.withLock { $0.count } }
}
