import Foundation
import NIOCore
import SwiftProtobuf
import Synchronization

/// What a watch hears.
package enum EtcdWatchNews: Sendable {
    /// The watch is in place as of the store's `revision`.
    case started(revision: Int64)
    /// Keys changed; `revision` is the store's revision of the response.
    case changed(revision: Int64)
    /// The server ended the watch (its start revision was compacted, or it was cancelled), or
    /// the stream broke: what changed meanwhile is unknown.
    case interrupted
}

/// The one `Watch` stream of a connection, opened on first use, carrying every watch of the
/// connection. Creates are answered in order, so the n-th `created` answer belongs to the n-th
/// create sent.
final class EtcdWatchStream: Sendable {
    typealias Listener = @Sendable (EtcdWatchNews) -> Void

    private struct PendingCreate {
        var listener: Listener
        var continuation: CheckedContinuation<Int64, any Error>
    }

    private struct State {
        var pending: [PendingCreate] = []
        var listeners: [Int64: Listener] = [:]
    }

    private let state = Mutex(State())
    private let lazyStream = EtcdLazy<GRPCStream>()
    private let connection: GRPCConnection
    private let metadata: [(String, String)]

    init(connection: GRPCConnection, metadata: [(String, String)]) {
        self.connection = connection
        self.metadata = metadata
    }

    /// Starts watching `key` (up to `rangeEnd`, if given) from `startRevision` (0: from now);
    /// returns the watch id. `listener` runs on the event loop for every response.
    func watch(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64, listener: @escaping Listener) async throws -> Int64 {
        let stream = try await openStream()
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key)
        if let rangeEnd { create.rangeEnd = Data(rangeEnd) }
        create.startRevision = startRevision
        var request = Etcdserverpb_WatchRequest()
        request.createRequest = create
        let bytes: [UInt8] = try request.serializedBytes()
        return try await withCheckedThrowingContinuation { continuation in
            let failure: GRPCStatus? = state.withLock { state in
                guard lazyStream.current === stream else { return GRPCStatus(.unavailable, "the watch stream closed") }
                state.pending.append(PendingCreate(listener: listener, continuation: continuation))
                return nil
            }
            if let failure { continuation.resume(throwing: failure) } else { stream.send(bytes) }
        }
    }

    /// Ends a watch; its listener hears nothing more.
    func cancel(_ watchID: Int64) {
        state.withLock { state in state.listeners[watchID] = nil }
        let stream = lazyStream.current
        var cancel = Etcdserverpb_WatchCancelRequest()
        cancel.watchID = watchID
        var request = Etcdserverpb_WatchRequest()
        request.cancelRequest = cancel
        if let stream, let bytes: [UInt8] = try? request.serializedBytes() { stream.send(bytes) }
    }

    private func openStream() async throws -> GRPCStream {
        try await lazyStream.value {
            try await connection.openStream(
                "/etcdserverpb.Watch/Watch", metadata: metadata,
                onMessage: { [weak self] in self?.received($0) },
                onEnd: { [weak self] in self?.ended($0) }
            )
        }
    }

    private func received(_ message: ByteBuffer) {
        guard let response = try? Etcdserverpb_WatchResponse(serializedBytes: Array(message.readableBytesView)) else {
            ended(GRPCStatus(.internal, "a watch answer that is no WatchResponse"))
            return
        }
        if response.created {
            let pending = state.withLock { state -> PendingCreate? in
                guard !state.pending.isEmpty else { return nil }
                let first = state.pending.removeFirst()
                if !response.canceled { state.listeners[response.watchID] = first.listener }
                return first
            }
            guard let pending else { return }
            if response.canceled {
                let reason = response.cancelReason.isEmpty ? "the server refused the watch" : response.cancelReason
                pending.continuation.resume(throwing: GRPCStatus(.failedPrecondition, reason))
            } else {
                pending.listener(.started(revision: response.header.revision))
                pending.continuation.resume(returning: response.watchID)
                if !response.events.isEmpty { pending.listener(.changed(revision: response.header.revision)) }
            }
            return
        }
        if response.canceled {
            let listener = state.withLock { $0.listeners.removeValue(forKey: response.watchID) }
            listener?(.interrupted)
            return
        }
        let listener = state.withLock { $0.listeners[response.watchID] }
        listener?(.changed(revision: response.header.revision))
    }

    private func ended(_ status: GRPCStatus) {
        let (pending, listeners) = state.withLock { state -> ([PendingCreate], [Listener]) in
            defer {
                state.pending = []
                state.listeners = [:]
            }
            return (state.pending, Array(state.listeners.values))
        }
        lazyStream.reset()
        let failure = status.code == .ok ? GRPCStatus(.unavailable, "the watch stream ended") : status
        for create in pending { create.continuation.resume(throwing: failure) }
        for listener in listeners { listener(.interrupted) }
    }
}
