import NIOCore
import SwiftProtobuf
import Synchronization

/// The one `LeaseKeepAlive` stream of a connection, opened on first use: each keepalive sent on
/// it is answered, in order, by the lease's remaining TTL.
///
/// Read by callbacks on the event loop, so no task reads the stream.
final class EtcdKeepAliveStream: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Int64, any Error>
    }

    private struct State {
        /// Per lease, the keepalives waiting for their answers, oldest first.
        var waiters: [Int64: [Waiter]] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    private let lazyStream = EtcdLazy<GRPCStream>()
    private let connection: GRPCConnection
    private let metadata: [(String, String)]

    init(connection: GRPCConnection, metadata: [(String, String)]) {
        self.connection = connection
        self.metadata = metadata
    }

    /// Keeps `lease` alive once; returns its TTL in seconds as the server now counts it (0 or
    /// less: the lease is gone).
    func keepAlive(_ lease: Int64) async throws -> Int64 {
        let stream = try await openStream()
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = lease
        let bytes: [UInt8] = try request.serializedBytes()
        let waiterID = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let failure: (any Error)? = state.withLock { state in
                    if Task.isCancelled { return CancellationError() }
                    guard lazyStream.current === stream else { return GRPCStatus(.unavailable, "the keepalive stream closed") }
                    state.waiters[lease, default: []].append(Waiter(id: waiterID, continuation: continuation))
                    return nil
                }
                if let failure {
                    continuation.resume(throwing: failure)
                } else {
                    stream.send(bytes)
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Int64, any Error>? in
                guard let index = state.waiters[lease]?.firstIndex(where: { $0.id == waiterID }) else { return nil }
                // The answer to our request may still come: a placeholder takes it.
                let waiter = state.waiters[lease]![index]
                state.waiters[lease]![index].id = 0
                return waiter.continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func openStream() async throws -> GRPCStream {
        try await lazyStream.value {
            try await connection.openStream(
                "/etcdserverpb.Lease/LeaseKeepAlive", metadata: metadata,
                onMessage: { [weak self] in self?.received($0) },
                onEnd: { [weak self] in self?.ended($0) }
            )
        }
    }

    private func received(_ message: ByteBuffer) {
        guard let response = try? Etcdserverpb_LeaseKeepAliveResponse(serializedBytes: Array(message.readableBytesView)) else {
            ended(GRPCStatus(.internal, "a keepalive answer that is no LeaseKeepAliveResponse"))
            return
        }
        let waiter = state.withLock { state -> Waiter? in
            guard var queue = state.waiters[response.id], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            state.waiters[response.id] = queue.isEmpty ? nil : queue
            return first
        }
        // A cancelled waiter's placeholder (id 0) was resumed already.
        if let waiter, waiter.id != 0 { waiter.continuation.resume(returning: response.ttl) }
    }

    private func ended(_ status: GRPCStatus) {
        let waiters = state.withLock { state -> [Waiter] in
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap { $0 }
        }
        lazyStream.reset()
        let failure = status.code == .ok ? GRPCStatus(.unavailable, "the keepalive stream ended") : status
        for waiter in waiters where waiter.id != 0 { waiter.continuation.resume(throwing: failure) }
    }
}
