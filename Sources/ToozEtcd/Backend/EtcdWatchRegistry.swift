import Synchronization
import Tooz

/// The watches a backend keeps for its change subscriptions: one entry per topic, shared by
/// every subscription to it, with its watches re-created on each new connection from the
/// revision after the last one heard, so that a reconnect misses nothing.
///
/// A watch only signals: the coordinator re-reads what changed. After an interruption the
/// signal fires too, since something may have changed unheard.
final class EtcdWatchRegistry: Sendable {
    struct Range: Hashable, Sendable {
        var key: [UInt8]
        var rangeEnd: [UInt8]?
    }

    private struct Entry {
        var ranges: [Range]
        var signal: ChangeBroadcast
        var references: Int
        var watches: [EtcdWatchID] = []
        /// The store's revision in the last response heard; 0 before any.
        var lastRevision: Int64 = 0
        /// Changes each time the entry is attached, so stale attachments cancel themselves.
        var generation: UInt64 = 0
    }

    private let entries = Mutex<[ChangeTopic: Entry]>([:])

    /// The topic's signal, watching its ranges on `connection` if this is its first subscription.
    func retain(_ topic: ChangeTopic, ranges: [Range], connection: EtcdConnectionHandle?) async -> ChangeBroadcast {
        let (signal, isNew) = entries.withLock { entries -> (ChangeBroadcast, Bool) in
            if var entry = entries[topic] {
                entry.references += 1
                entries[topic] = entry
                return (entry.signal, false)
            }
            let entry = Entry(ranges: ranges, signal: ChangeBroadcast(), references: 1)
            entries[topic] = entry
            return (entry.signal, true)
        }
        if isNew, let connection { await attach(topic, on: connection) }
        return signal
    }

    /// One subscription to `topic` ended; the last one cancels its watches.
    func release(_ topic: ChangeTopic) {
        let watches = entries.withLock { entries -> [EtcdWatchID] in
            guard var entry = entries[topic] else { return [] }
            entry.references -= 1
            if entry.references > 0 {
                entries[topic] = entry
                return []
            }
            entries[topic] = nil
            return entry.watches
        }
        for watch in watches { watch.cancel() }
    }

    /// Re-creates every topic's watches on a new connection, and signals each topic.
    func reattach(on connection: EtcdConnectionHandle) async {
        let topics = entries.withLock { Array($0.keys) }
        for topic in topics { await attach(topic, on: connection) }
    }

    /// Whether a topic is watched (for tests).
    func isWatching(_ topic: ChangeTopic) -> Bool {
        entries.withLock { !($0[topic]?.watches.isEmpty ?? true) }
    }

    private func attach(_ topic: ChangeTopic, on connection: EtcdConnectionHandle) async {
        guard
            let (ranges, startRevision, generation) = entries.withLock({ entries -> ([Range], Int64, UInt64)? in
                guard var entry = entries[topic] else { return nil }
                entry.generation += 1
                entry.watches = []
                entries[topic] = entry
                return (entry.ranges, entry.lastRevision == 0 ? 0 : entry.lastRevision + 1, entry.generation)
            })
        else { return }
        var created: [EtcdWatchID] = []
        for range in ranges {
            let listener: @Sendable (EtcdWatchNews) -> Void = { [weak self] news in self?.heard(news, for: topic, generation: generation) }
            do {
                created.append(try await connection.watch(key: range.key, rangeEnd: range.rangeEnd, startRevision: startRevision, listener: listener))
            } catch {
                // The start revision was compacted away (or the stream broke): watch from
                // now; the signal below makes the coordinator re-read what it may have missed.
                if let watch = try? await connection.watch(key: range.key, rangeEnd: range.rangeEnd, startRevision: 0, listener: listener) {
                    created.append(watch)
                }
            }
        }
        let (kept, signal) = entries.withLock { entries -> (Bool, ChangeBroadcast?) in
            guard var entry = entries[topic], entry.generation == generation else { return (false, nil) }
            entry.watches = created
            entries[topic] = entry
            return (true, entry.signal)
        }
        if !kept { for watch in created { watch.cancel() } }
        signal?.notifyAll()
    }

    private func heard(_ news: EtcdWatchNews, for topic: ChangeTopic, generation: UInt64) {
        let signal = entries.withLock { entries -> ChangeBroadcast? in
            guard var entry = entries[topic], entry.generation == generation else { return nil }
            switch news {
            case .started(let revision):
                // Nothing happened yet: only where to resume from.
                entry.lastRevision = max(entry.lastRevision, revision)
                entries[topic] = entry
                return nil
            case .changed(let revision):
                entry.lastRevision = max(entry.lastRevision, revision)
            case .compacted:
                // The watch goes on from the compaction; what happened before it is unknown,
                // so the signal below makes readers take a fresh snapshot.
                break
            case .interrupted:
                entry.watches = []
            }
            entries[topic] = entry
            return entry.signal
        }
        signal?.notifyAll()
    }
}
