/// A value that oslo msgpack (Python tooz's serialiser) can carry: what capabilities are made of.
///
/// Strings and bytes are distinct, as in Python 3: ``string(_:)`` is written as msgpack *str* and
/// ``binary(_:)`` as msgpack *bin*. Python `datetime`s arrive as ``dateTime(_:)`` (oslo extension
/// type 1); other extension types are kept as ``extension(type:data:)`` and written back unchanged.
public indirect enum MessagePackValue: Hashable, Sendable {
    case `nil`
    case bool(Bool)
    case int(Int64)
    /// Unsigned integers above `Int64.max`; smaller ones decode as ``int(_:)``.
    case uint(UInt64)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    /// Map entries in their wire order (Python dicts keep insertion order, and so do we).
    case map([MessagePackMapEntry])
    /// A Python `datetime` (oslo msgpack extension type 1).
    case dateTime(OsloDateTime)
    /// Any other msgpack extension, passed through untouched.
    case `extension`(type: Int8, data: [UInt8])
}

/// One key/value pair of a ``MessagePackValue/map(_:)``.
public struct MessagePackMapEntry: Hashable, Sendable {
    public var key: MessagePackValue
    public var value: MessagePackValue

    public init(_ key: MessagePackValue, _ value: MessagePackValue) {
        self.key = key
        self.value = value
    }
}

/// The capabilities a member publishes when it joins a group. tooz: `capabilities`.
///
/// tooz 9.x stores `None` (msgpack nil) when a member joins without capabilities.
public typealias Capabilities = MessagePackValue

/// A naive or zoned Python `datetime`, as oslo msgpack encodes it (extension type 1).
public struct OsloDateTime: Hashable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var microsecond: Int
    /// The time zone name (`tz` key), or `nil` for a naive datetime.
    public var timeZone: String?

    public init(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0,
        microsecond: Int = 0, timeZone: String? = nil
    ) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
        self.timeZone = timeZone
    }
}

extension MessagePackValue {
    /// Looks a string key up in a map; `nil` for other values or a missing key.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first(where: { $0.key == .string(key) || $0.key == .binary(Array(key.utf8)) })?.value
    }

    /// The integer value of ``int(_:)`` or ``uint(_:)`` when it fits an `Int`.
    public var intValue: Int? {
        switch self {
        case .int(let value): Int(exactly: value)
        case .uint(let value): Int(exactly: value)
        default: nil
        }
    }

    /// The text of ``string(_:)``, or of ``binary(_:)`` when it is valid UTF-8.
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .binary(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }
}

extension MessagePackValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .nil }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: MessagePackValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (MessagePackValue, MessagePackValue)...) {
        self = .map(elements.map { MessagePackMapEntry($0.0, $0.1) })
    }
}

extension MessagePackValue: CustomStringConvertible {
    /// A compact, Python-like rendering for logs and the CLI.
    public var description: String {
        switch self {
        case .nil: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .uint(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value): return value.debugDescription
        case .binary(let bytes):
            if let text = String(validating: bytes, as: UTF8.self) { return "b\(text.debugDescription)" }
            return "b<\(bytes.count) bytes>"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .map(let entries):
            return "{" + entries.map { "\($0.key.description): \($0.value.description)" }.joined(separator: ", ") + "}"
        case .dateTime(let date):
            return "datetime(\(date.year), \(date.month), \(date.day), \(date.hour), \(date.minute), \(date.second), \(date.microsecond))"
        case .extension(let type, let data): return "ExtType(\(type), <\(data.count) bytes>)"
        }
    }
}
