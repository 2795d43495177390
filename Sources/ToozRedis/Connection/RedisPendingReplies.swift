import ToozNIO

/// A Redis caller's replies; see ``PendingReplies``.
typealias RedisPendingReplies = PendingReplies<RESPValue>
/// One Redis request's place in its ``RedisPendingReplies``.
typealias RedisReplySlot = ReplySlot<RESPValue>
