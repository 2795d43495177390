import ToozNIO

/// A memcached caller's replies; see ``PendingReplies``.
typealias MemcachedPendingReplies = PendingReplies<MemcachedResponse>
/// One memcached request's place in its ``MemcachedPendingReplies``.
typealias MemcachedReplySlot = ReplySlot<MemcachedResponse>
