import NIOCore

/// One complete RESP2 or RESP3 reply, as produced by ``RESPDecoder``.
///
/// String payloads are `ByteBuffer` slices of the receive buffer, so decoding copies no bytes.
/// RESP2's null bulk string (`$-1`) and null array (`*-1`) are kept apart from RESP3's `_` null,
/// because a caller that speaks RESP2 must be able to tell "no such key" from an empty value.
package enum RESPValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(ByteBuffer)
    /// `-ERR message`
    case simpleError(ByteBuffer)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nfoo`; `nil` is RESP2's null bulk string `$-1`.
    case bulkString(ByteBuffer?)
    /// `*2\r\n...`; `nil` is RESP2's null array `*-1`.
    case array([RESPValue]?)
    /// RESP3 `_`.
    case null
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `,1.5`, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// RESP3 `(12345678901234567890`: the digits with an optional leading `-`, unparsed.
    case bigNumber(String)
    /// RESP3 `!<len>`: an error whose message may hold any bytes.
    case bulkError(ByteBuffer)
    /// RESP3 `=<len>\r\ntxt:...`: a three-character format (`txt`, `mkd`) and the text.
    case verbatimString(format: String, ByteBuffer)
    /// RESP3 `%`: key/value pairs in wire order (duplicates are kept; Redis never sends them).
    case map([RESPMapEntry])
    /// RESP3 `~`: elements in wire order.
    case set([RESPValue])
    /// RESP3 `|` attributes followed by the reply they annotate. Only produced when the decoder
    /// keeps attributes; by default they are parsed, checked and dropped.
    indirect case attributed(attributes: [RESPMapEntry], value: RESPValue)
    /// RESP3 `>`: an out-of-band message (pub/sub, client tracking invalidations).
    case push([RESPValue])

    // Hand-written so that `nan` equals `nan`: a decoder test must be able to expect `,nan`.
    package static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let l), .simpleString(let r)): l == r
        case (.simpleError(let l), .simpleError(let r)): l == r
        case (.integer(let l), .integer(let r)): l == r
        case (.bulkString(let l), .bulkString(let r)): l == r
        case (.array(let l), .array(let r)): l == r
        case (.null, .null): true
        case (.boolean(let l), .boolean(let r)): l == r
        case (.double(let l), .double(let r)): l == r || (l.isNaN && r.isNaN)
        case (.bigNumber(let l), .bigNumber(let r)): l == r
        case (.bulkError(let l), .bulkError(let r)): l == r
        case (.verbatimString(let lf, let l), .verbatimString(let rf, let r)): lf == rf && l == r
        case (.map(let l), .map(let r)): l == r
        case (.set(let l), .set(let r)): l == r
        case (.attributed(let la, let l), .attributed(let ra, let r)): la == ra && l == r
        case (.push(let l), .push(let r)): l == r
        default: false
        }
    }

    package func hash(into hasher: inout Hasher) {
        switch self {
        case .simpleString(let v): hasher.combine(0); hasher.combine(v)
        case .simpleError(let v): hasher.combine(1); hasher.combine(v)
        case .integer(let v): hasher.combine(2); hasher.combine(v)
        case .bulkString(let v): hasher.combine(3); hasher.combine(v)
        case .array(let v): hasher.combine(4); hasher.combine(v)
        case .null: hasher.combine(5)
        case .boolean(let v): hasher.combine(6); hasher.combine(v)
        case .double(let v): hasher.combine(7); hasher.combine(v.isNaN ? Double.nan.bitPattern : v.bitPattern)
        case .bigNumber(let v): hasher.combine(8); hasher.combine(v)
        case .bulkError(let v): hasher.combine(9); hasher.combine(v)
        case .verbatimString(let f, let v): hasher.combine(10); hasher.combine(f); hasher.combine(v)
        case .map(let v): hasher.combine(11); hasher.combine(v)
        case .set(let v): hasher.combine(12); hasher.combine(v)
        case .attributed(let a, let v): hasher.combine(13); hasher.combine(a); hasher.combine(v)
        case .push(let v): hasher.combine(14); hasher.combine(v)
        }
    }
}

/// One key/value pair of a RESP3 map or attribute.
package struct RESPMapEntry: Sendable, Hashable {
    package var key: RESPValue
    package var value: RESPValue

    package init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// The text of a simple string, bulk string or verbatim string, decoded as UTF-8.
    package var string: String? {
        switch self {
        case .simpleString(let buffer), .bulkString(.some(let buffer)), .verbatimString(_, let buffer):
            String(buffer: buffer)
        default:
            nil
        }
    }

    /// The message of a simple or bulk error reply; `nil` for any other reply.
    package var errorMessage: String? {
        switch self {
        case .simpleError(let buffer), .bulkError(let buffer):
            String(buffer: buffer)
        default:
            nil
        }
    }

    /// Whether this is a null of any protocol version: `_`, `$-1` or `*-1`.
    package var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): true
        default: false
        }
    }
}
