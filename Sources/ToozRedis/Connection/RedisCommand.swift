import NIOCore

/// One Redis command, encoded once, when it is made.
///
/// Only the command's name is kept for error messages and logs; its arguments (keys, values,
/// passwords) are not retained anywhere but in the encoded bytes.
///
/// ```swift
/// let command = RedisCommand("SET", key, token, "NX", "PX", 30_000)
/// ```
package struct RedisCommand: Sendable {
    /// The command's name, e.g. `GET`, or `CLIENT SETNAME` when given as two words.
    package let name: String
    /// How long to wait for its reply; `nil` uses ``RedisConnectionConfiguration/commandTimeout``.
    /// Meant for commands that block on purpose (`BLPOP`, `WAIT`).
    package var timeout: Duration?
    /// The whole command as RESP: an array of bulk strings.
    package let encoded: ByteBuffer
    /// What the reply looks like; subscriptions expect one confirmation per channel.
    var expectation: RedisReplyExpectation = .reply

    /// Encodes `name` and `arguments`.
    ///
    /// A `name` of several words (`"CLIENT SETNAME"`, `"SCRIPT LOAD"`) is sent as that many
    /// bulk strings, so subcommands read naturally.
    package init(_ name: String, _ arguments: any RESPBulkConvertible...) {
        self.init(name, arguments: arguments)
    }

    /// Encodes `name` and `arguments`; see ``init(_:_:)``.
    package init(_ name: String, arguments: [any RESPBulkConvertible]) {
        // Most requests are a few short keys and values: one allocation up front, not several
        // regrowths while encoding.
        var buffer = ByteBuffer()
        buffer.reserveCapacity(128)
        if !name.utf8.contains(UInt8(ascii: " ")) {
            precondition(!name.isEmpty, "a Redis command needs a name")
            RESPEncoder.writeHeader(UInt8(ascii: "*"), 1 + arguments.count, into: &buffer)
            name.writeRESPBulkString(into: &buffer)
            self.name = name
        } else {
            let words = name.split(separator: " ", omittingEmptySubsequences: true)
            precondition(!words.isEmpty, "a Redis command needs a name")
            RESPEncoder.writeHeader(UInt8(ascii: "*"), words.count + arguments.count, into: &buffer)
            for word in words {
                word.writeRESPBulkString(into: &buffer)
            }
            self.name = words.joined(separator: " ")
        }
        for argument in arguments {
            argument.writeRESPBulkString(into: &buffer)
        }
        self.encoded = buffer
    }
}

/// What a request waits for before its slot is complete.
package enum RedisReplyExpectation: Sendable, Hashable {
    /// One reply of any kind (an error reply included).
    case reply
    /// `count` confirmations of a pub/sub change: RESP3 pushes, or RESP2 arrays, such as
    /// `["subscribe", channel, count]`. An error reply instead ends the wait.
    case confirmations(RedisSubscriptionChange, count: Int)
}

/// The pub/sub commands whose replies are confirmations rather than a single reply.
package enum RedisSubscriptionChange: String, Sendable, Hashable {
    case subscribe
    case unsubscribe
}
