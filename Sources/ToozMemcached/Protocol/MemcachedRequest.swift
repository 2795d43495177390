import NIOCore
import Tooz

/// How `ms` stores its value: memcached's `M` mode flag.
package enum MemcachedSetMode: Sendable, Hashable {
    /// Store unconditionally (`MS`, the server's default, so no flag is sent).
    case set
    /// Store only if the key is absent (`ME`); otherwise `NS`.
    case add
    /// Store only if the key is present (`MR`); otherwise `NS`.
    case replace
    /// Append to the present value (`MA`); otherwise `NS`.
    case append
    /// Prepend to the present value (`MP`); otherwise `NS`.
    case prepend

    /// The mode's letter after `M`; `nil` for the default.
    fileprivate var flag: String? {
        switch self {
        case .set: nil
        case .add: "E"
        case .replace: "R"
        case .append: "A"
        case .prepend: "P"
        }
    }
}

/// One meta-protocol command, encoded once, when it is made.
///
/// Only the command's name (`mg`, `ms`, ...) is kept for error messages and logs; the key and the
/// value live only in the encoded bytes, so neither can leak into a message.
///
/// The builders refuse what memcached would refuse or misread, before any I/O: a key that is
/// empty, longer than 250 bytes or holds a space or control byte (it would split the command
/// line), and a TTL that is negative or over 30 days (memcached reads a larger number as a unix
/// time).
///
/// ```swift
/// let set = try MemcachedRequest.set("lock/a", value: Array("owner".utf8), clientFlags: 0, ttl: 30, mode: .add)
/// let get = try MemcachedRequest.get("lock/a")
/// ```
package struct MemcachedRequest: Sendable {
    /// The command, e.g. `mg`.
    package let name: String
    /// How long to wait for its reply; `nil` uses ``MemcachedConnectionConfiguration/commandTimeout``.
    package var timeout: Duration?
    /// The whole command line, and the data block for `ms`.
    package let encoded: ByteBuffer

    /// The longest key memcached accepts, in bytes.
    package static let maximumKeyLength = 250
    /// The longest TTL that memcached reads as a duration (30 days); larger numbers are unix times.
    package static let maximumTTL = 2_592_000

    private init(name: String, encoded: ByteBuffer) {
        self.name = name
        self.encoded = encoded
    }

    /// `mg`: reads an item; answers `VA` (with `value`), `HD` (without), or `EN` on a miss.
    ///
    /// - Parameters:
    ///   - value: return the value (`v`).
    ///   - clientFlags: return the client flags (`f`).
    ///   - cas: return the CAS token (`c`).
    ///   - ttl: return the remaining TTL in seconds (`t`; -1 means no expiry).
    ///   - touch: set the item's TTL to this many seconds while reading it (`T`).
    /// - Throws: `invalidArgument` for a bad key or touch TTL.
    package static func get(
        _ key: String,
        value: Bool = true,
        clientFlags: Bool = true,
        cas: Bool = true,
        ttl: Bool = false,
        touch: Int? = nil
    ) throws(ToozError) -> MemcachedRequest {
        var line = try Line("mg", key: key)
        if value { line.flag("v") }
        if clientFlags { line.flag("f") }
        if cas { line.flag("c") }
        if ttl { line.flag("t") }
        if let touch { line.flag("T\(try checkedTTL(touch))") }
        return MemcachedRequest(name: "mg", encoded: line.finish())
    }

    /// `ms`: stores `value`; answers `HD` when stored, `NS` when the mode's condition failed,
    /// `EX` when `compareCAS` did not match, `NF` when `compareCAS` was given and the key is gone.
    ///
    /// - Parameters:
    ///   - clientFlags: the opaque 32 bits stored with the item (`F`).
    ///   - ttl: seconds until the item expires (`T`); 0 never expires it.
    ///   - compareCAS: store only if the item's CAS token is this one (`C`).
    ///   - returnCAS: return the new CAS token (`c`).
    /// - Throws: `invalidArgument` for a bad key or TTL.
    package static func set(
        _ key: String,
        value: [UInt8],
        clientFlags: UInt32,
        ttl: Int,
        mode: MemcachedSetMode = .set,
        compareCAS: UInt64? = nil,
        returnCAS: Bool = true
    ) throws(ToozError) -> MemcachedRequest {
        var line = try Line("ms", key: key)
        line.flag(String(value.count))
        line.flag("F\(clientFlags)")
        line.flag("T\(try checkedTTL(ttl))")
        if let mode = mode.flag { line.flag("M" + mode) }
        if let compareCAS { line.flag("C\(compareCAS)") }
        if returnCAS { line.flag("c") }
        var buffer = line.finish(reservingForData: value.count)
        buffer.writeBytes(value)
        buffer.writeStaticString("\r\n")
        return MemcachedRequest(name: "ms", encoded: buffer)
    }

    /// `md`: deletes an item; answers `HD`, `NF` when absent, `EX` when `compareCAS` did not match.
    ///
    /// - Throws: `invalidArgument` for a bad key.
    package static func delete(_ key: String, compareCAS: UInt64? = nil) throws(ToozError) -> MemcachedRequest {
        var line = try Line("md", key: key)
        if let compareCAS { line.flag("C\(compareCAS)") }
        return MemcachedRequest(name: "md", encoded: line.finish())
    }

    /// `ma`: adds `delta` to a decimal counter and returns the new value (`VA`); `NF` when the
    /// key is absent and no `initial` is given.
    ///
    /// - Parameters:
    ///   - initial: create the counter with this value when it is absent (`J`, with `N`); the
    ///     reply is then `initial`, not `initial + delta`.
    ///   - createTTL: the TTL of a counter created that way; 0 never expires it.
    /// - Throws: `invalidArgument` for a bad key or TTL.
    package static func increment(
        _ key: String,
        delta: UInt64 = 1,
        initial: UInt64? = nil,
        createTTL: Int = 0
    ) throws(ToozError) -> MemcachedRequest {
        var line = try Line("ma", key: key)
        if let initial {
            line.flag("N\(try checkedTTL(createTTL))")
            line.flag("J\(initial)")
        }
        line.flag("D\(delta)")
        line.flag("v")
        return MemcachedRequest(name: "ma", encoded: line.finish())
    }

    /// `mn`: answers `MN`; a cheap round trip and the proof that the server speaks the meta protocol.
    package static var noop: MemcachedRequest {
        var buffer = ByteBuffer()
        buffer.writeStaticString("mn\r\n")
        return MemcachedRequest(name: "mn", encoded: buffer)
    }

    private static func checkedTTL(_ ttl: Int) throws(ToozError) -> Int {
        guard ttl >= 0 else {
            throw ToozError(.invalidArgument, "a memcached TTL cannot be negative (\(ttl) s)")
        }
        guard ttl <= maximumTTL else {
            throw ToozError(
                .invalidArgument,
                "a memcached TTL over 30 days (\(maximumTTL) s) would be read as a unix time: \(ttl) s"
            )
        }
        return ttl
    }

    /// A command line being written: the name, the key, then space-separated flags.
    private struct Line {
        private var text: String

        init(_ name: String, key: String) throws(ToozError) {
            try MemcachedRequest.validate(key: key)
            self.text = name + " " + key
        }

        mutating func flag(_ token: String) {
            self.text += " " + token
        }

        func finish(reservingForData extra: Int = 0) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(self.text.utf8.count + 2 + (extra > 0 ? extra + 2 : 0))
            buffer.writeString(self.text)
            buffer.writeStaticString("\r\n")
            return buffer
        }
    }

    /// Refuses keys memcached would refuse, or that would break the command line apart.
    ///
    /// The message does not quote the key: keys can carry names the caller treats as private.
    package static func validate(key: String) throws(ToozError) {
        let length = key.utf8.count
        guard length > 0 else {
            throw ToozError(.invalidArgument, "a memcached key cannot be empty")
        }
        guard length <= maximumKeyLength else {
            throw ToozError(.invalidArgument, "a memcached key is at most \(maximumKeyLength) bytes; this one has \(length)")
        }
        guard !key.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ToozError(.invalidArgument, "a memcached key cannot contain spaces or control characters")
        }
    }
}
