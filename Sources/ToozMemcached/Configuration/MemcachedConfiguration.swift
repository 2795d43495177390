import Tooz

/// Everything the `memcached://` backend needs to reach its server.
///
/// Built from a tooz URL by ``MemcachedConfiguration/make(url:)``; the URL form and options are
/// tooz's (see docs/BACKENDS.md).
package struct MemcachedConfiguration: Sendable {
    /// Where the server is and how to talk to it (timeouts, TLS).
    package var connection: MemcachedConnectionConfiguration
    /// The largest value one item may hold: memcached's `-I` (1 MiB by default). A group whose
    /// member map would not fit is refused before anything is written.
    package var maximumItemSize: Int

    package init(connection: MemcachedConnectionConfiguration, maximumItemSize: Int = 1 << 20) {
        self.connection = connection
        self.maximumItemSize = maximumItemSize
    }
}
