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
    /// The revision the watch was to resume from has been compacted away: the changes in
    /// between are unknown. The watch goes on by itself from the oldest revision etcd still has.
    case compacted
    /// The server ended the watch, or the stream broke: what changed meanwhile is unknown, and
    /// the watch is gone.
    case interrupted
}

/// The one `Watch` stream of a connection, opened on first use, carrying every watch of the
/// connection. Creates are answered in order, so the n-th `created` answer belongs to the n-th
/// create sent.
///
/// Each watch has a local id that stays the same when the server's watch behind it is replaced:
/// etcd answers a create from a compacted revision with a watch that it cancels at once, and the
/// stream then creates it again from the compaction revision.
final class EtcdWatchStream: Sendable {
    typealias Listener = @Sendable (EtcdWatchNews) -> Void

    private struct Watch {
        var key: [UInt8]
        var rangeEnd: [UInt8]?
        var listener: Listener
        /// The server's id of the watch, once created.
        var serverID: Int64?
    }

    private struct PendingCreate {
        var localID: UInt64
        /// `nil` for a re-creation after a compaction: nobody waits for it.
        var continuation: CheckedContinuation<UInt64, any Error>?
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var localByServerID: [Int64: UInt64] = [:]
        var pending: [PendingCreate] = []
        var nextLocalID: UInt64 = 0
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
    /// returns the watch's local id. `listener` runs on the event loop for every response.
    func watch(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64, listener: @escaping Listener) async throws -> UInt64 {
        let stream = try await openStream()
        let bytes = try Self.createRequest(key: key, rangeEnd: rangeEnd, startRevision: startRevision)
        return try await withCheckedThrowingContinuation { continuation in
            let failure: GRPCStatus? = state.withLock { state in
                guard lazyStream.current === stream else { return GRPCStatus(.unavailable, "the watch stream closed") }
                state.nextLocalID += 1
                let localID = state.nextLocalID
                state.watches[localID] = Watch(key: key, rangeEnd: rangeEnd, listener: listener)
                state.pending.append(PendingCreate(localID: localID, continuation: continuation))
                return nil
            }
            if let failure { continuation.resume(throwing: failure) } else { stream.send(bytes) }
        }
    }

    /// Ends a watch; its listener hears nothing more.
    func cancel(_ localID: UInt64) {
        let serverID = state.withLock { state -> Int64? in
            guard let watch = state.watches.removeValue(forKey: localID), let serverID = watch.serverID else { return nil }
            state.localByServerID[serverID] = nil
            return serverID
        }
        guard let serverID, let stream = lazyStream.current else { return }
        var cancel = Etcdserverpb_WatchCancelRequest()
        cancel.watchID = serverID
        var request = Etcdserverpb_WatchRequest()
        request.cancelRequest = cancel
        if let bytes: [UInt8] = try? request.serializedBytes() { stream.send(bytes) }
    }

    private static func createRequest(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64) throws -> [UInt8] {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key)
        if let rangeEnd { create.rangeEnd = Data(rangeEnd) }
        create.startRevision = startRevision
        var request = Etcdserverpb_WatchRequest()
        request.createRequest = create
        return try request.serializedBytes()
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
            created(response)
        } else if response.canceled {
            canceled(response)
        } else if let listener = state.withLock({ state in state.localByServerID[response.watchID].flatMap { state.watches[$0]?.listener } }) {
            listener(.changed(revision: response.header.revision))
        }
    }

    /// The answer to the oldest create sent.
    private func created(_ response: Etcdserverpb_WatchResponse) {
        enum Outcome {
            case started(PendingCreate, Listener)
            case refused(PendingCreate, Listener)
            case orphan(PendingCreate?)
        }
        let outcome = state.withLock { state -> Outcome in
            guard !state.pending.isEmpty else { return .orphan(nil) }
            let pending = state.pending.removeFirst()
            guard var watch = state.watches[pending.localID] else { return .orphan(pending) }
            if response.canceled {
                state.watches[pending.localID] = nil
                return .refused(pending, watch.listener)
            }
            watch.serverID = response.watchID
            state.watches[pending.localID] = watch
            state.localByServerID[response.watchID] = pending.localID
            return .started(pending, watch.listener)
        }
        switch outcome {
        case .started(let pending, let listener):
            listener(.started(revision: response.header.revision))
            pending.continuation?.resume(returning: pending.localID)
            if !response.events.isEmpty { listener(.changed(revision: response.header.revision)) }
        case .refused(let pending, let listener):
            let reason = response.cancelReason.isEmpty ? "the server refused the watch" : response.cancelReason
            if let continuation = pending.continuation {
                continuation.resume(throwing: GRPCStatus(.failedPrecondition, reason))
            } else {
                // A re-creation nobody waits for: its listener learns that the watch is gone.
                listener(.interrupted)
            }
        case .orphan(let pending):
            // Cancelled while its create was in flight: the server's watch is not wanted.
            pending?.continuation?.resume(throwing: CancellationError())
            if pending != nil { cancelOnServer(response.watchID) }
        }
    }

    /// The server ended a watch: after a compaction, it is made again from the oldest revision
    /// the server has; otherwise it is gone.
    private func canceled(_ response: Etcdserverpb_WatchResponse) {
        let compacted = response.compactRevision > 0
        let (listener, recreate) = state.withLock { state -> (Listener?, [UInt8]?) in
            guard let localID = state.localByServerID.removeValue(forKey: response.watchID), var watch = state.watches[localID] else {
                return (nil, nil)
            }
            guard compacted, let bytes = try? Self.createRequest(key: watch.key, rangeEnd: watch.rangeEnd, startRevision: response.compactRevision)
            else {
                state.watches[localID] = nil
                return (watch.listener, nil)
            }
            watch.serverID = nil
            state.watches[localID] = watch
            state.pending.append(PendingCreate(localID: localID, continuation: nil))
            return (watch.listener, bytes)
        }
        if let recreate, let stream = lazyStream.current {
            listener?(.compacted)
            stream.send(recreate)
        } else {
            listener?(.interrupted)
        }
    }

    private func cancelOnServer(_ serverID: Int64) {
        var cancel = Etcdserverpb_WatchCancelRequest()
        cancel.watchID = serverID
        var request = Etcdserverpb_WatchRequest()
        request.cancelRequest = cancel
        if let stream = lazyStream.current, let bytes: [UInt8] = try? request.serializedBytes() { stream.send(bytes) }
    }

    private func ended(_ status: GRPCStatus) {
        let (pending, listeners) = state.withLock { state -> ([PendingCreate], [Listener]) in
            defer { state = State(nextLocalID: state.nextLocalID) }
            return (state.pending, state.watches.values.map(\.listener))
        }
        lazyStream.reset()
        let failure = status.code == .ok ? GRPCStatus(.unavailable, "the watch stream ended") : status
        for create in pending { create.continuation?.resume(throwing: failure) }
        for listener in listeners { listener(.interrupted) }
    }
}
