/// One RESP3 `invalidate` push of client-side caching (`CLIENT TRACKING`): the keys that were
/// modified, expired, evicted or deleted since the server last told this connection.
///
/// In broadcast mode (`BCAST`) the server batches every key under the tracked prefixes that
/// changed during one event loop cycle into one push: `>2 $10 invalidate *N $key ...`. A null
/// in place of the keys (`_` or `*-1`) means every key (`FLUSHALL`, `FLUSHDB`).
package enum RedisInvalidation: Sendable, Hashable {
    /// These keys changed (UTF-8 decoded; invalid bytes are replaced, never dropped).
    case keys([String])
    /// Every key may have changed.
    case all

    /// Parses a push's elements; `nil` when they are not an `invalidate` push. An `invalidate`
    /// push of an unexpected shape reads as ``all``: a change we cannot place must still wake.
    package init?(push elements: [RESPValue]) {
        guard elements.first?.string?.lowercased() == "invalidate" else { return nil }
        guard elements.count == 2 else {
            self = .all
            return
        }
        switch elements[1] {
        case .array(.some(let keys)), .set(let keys):
            var names: [String] = []
            names.reserveCapacity(keys.count)
            for key in keys {
                guard let name = key.string else {
                    self = .all
                    return
                }
                names.append(name)
            }
            self = .keys(names)
        default:
            // `_` or `*-1`: every key (FLUSHALL, FLUSHDB).
            self = .all
        }
    }
}
