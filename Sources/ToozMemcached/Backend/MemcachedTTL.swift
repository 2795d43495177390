/// How lease TTLs become memcached expiry times, and what a holder can count on.
///
/// memcached counts relative expiry in whole seconds against a clock that ticks once a second,
/// so an item stored with `T<n>` may be gone up to a second before `n` seconds have passed.
/// A lease therefore asks for its TTL rounded up to whole seconds (at least 2) and counts on
/// one second less. Relative TTLs over 30 days are read by memcached as a date, so longer ones
/// are refused.
enum MemcachedTTL {
    /// memcached's longest relative expiry.
    static let longest: Duration = .seconds(2_592_000)

    /// The whole seconds to store an item for when a lease asks for `ttl`: rounded up, at
    /// least 2, at most 30 days.
    static func seconds(for ttl: Duration) -> Int {
        let (seconds, attoseconds) = ttl.components
        let whole = Int(clamping: seconds) + (attoseconds > 0 ? 1 : 0)
        return min(max(whole, 2), Int(longest.components.seconds))
    }

    /// The whole seconds to store an item for so that it is certain to live at least `ttl`:
    /// one more than ``seconds(for:)``. For liveness keys, whose TTL the coordinator counts on
    /// as given (a dead member then drops out at most a second later).
    static func secondsCovering(_ ttl: Duration) -> Int {
        min(seconds(for: ttl) + 1, Int(longest.components.seconds))
    }

    /// How long an item stored for `seconds` is certain to live.
    static func guaranteed(seconds: Int) -> Duration {
        .seconds(seconds - 1)
    }
}
