import NIOCore

/// One message published on a channel this connection subscribed to.
package struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published on.
    package var channel: String
    /// The published bytes, as sent.
    package var payload: ByteBuffer

    package init(channel: String, payload: ByteBuffer) {
        self.channel = channel
        self.payload = payload
    }
}
