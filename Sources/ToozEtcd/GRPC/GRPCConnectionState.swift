import Synchronization

/// What the loop-confined handler shares with the connection's callers on other threads: whether
/// the connection still takes calls, and why not.
final class GRPCConnectionState: Sendable {
    private let refusal = Mutex<GRPCStatus?>(nil)
    private let onRefusal: (@Sendable (GRPCStatus) -> Void)?

    /// - Parameter onRefusal: called once, on the event loop, when the connection stops taking
    ///   calls (it closed, failed, went away or used up its stream ids).
    init(onRefusal: (@Sendable (GRPCStatus) -> Void)?) {
        self.onRefusal = onRefusal
    }

    /// Why new calls are refused, or `nil` while they are taken.
    var refused: GRPCStatus? { refusal.withLock { $0 } }

    func refuse(_ status: GRPCStatus) {
        let first = refusal.withLock { current -> Bool in
            guard current == nil else { return false }
            current = status
            return true
        }
        if first { onRefusal?(status) }
    }
}
