/// The msgpack dialect that Python tooz stores capabilities and member records in.
///
/// Python tooz serialises with `oslo_serialization.msgpackutils`, which is
/// `msgpack.packb(obj, use_bin_type=True)` plus extension handlers, and reads with
/// `msgpack.unpackb(data, raw=False)`. To share a backend with Python processes the bytes must
/// match exactly, so ``encode(_:)`` makes the same choices msgpack-python does:
///
/// - integers take the smallest encoding, and non-negative ones always use the *unsigned* family
///   (`uint8` for 200, never `int16`), as msgpack-python does;
/// - doubles are always `float64`;
/// - strings are msgpack *str* and bytes are msgpack *bin*;
/// - extensions use `fixext` when the payload is 1, 2, 4, 8 or 16 bytes long and `ext8/16/32`
///   otherwise;
/// - a ``MessagePackValue/dateTime(_:)`` is oslo's extension type 1: a nested map with the keys
///   `day, month, year, hour, minute, second, microsecond` in that order, then `tz` for an aware
///   datetime.
///
/// ``decode(_:)`` is strict where Python is strict (trailing bytes, truncation, the reserved byte
/// `0xc1`, invalid UTF-8 in a str) and refuses input nested more than ``maximumDepth`` levels deep.
/// It never trusts a length before checking it against the bytes that are actually there.
public enum OsloMsgPack {
    /// The deepest nesting of arrays, maps and datetime payloads that ``decode(_:)`` accepts.
    public static let maximumDepth = 512

    /// oslo's extension code for `datetime.datetime`.
    static let dateTimeExtensionType: Int8 = 1

    // MARK: Encoding

    /// Encodes `value` exactly as Python's `oslo_serialization.msgpackutils.dumps` would.
    ///
    /// - Precondition: no string, binary, array, map or extension is longer than `UInt32.max`
    ///   bytes or elements, the msgpack format's own limit.
    public static func encode(_ value: MessagePackValue) -> [UInt8] {
        var output: [UInt8] = []
        encode(value, into: &output)
        return output
    }

    static func encode(_ value: MessagePackValue, into output: inout [UInt8]) {
        switch value {
        case .nil:
            output.append(0xc0)
        case .bool(let flag):
            output.append(flag ? 0xc3 : 0xc2)
        case .int(let number):
            if number >= 0 {
                encodeUnsigned(UInt64(number), into: &output)
            } else {
                encodeNegative(number, into: &output)
            }
        case .uint(let number):
            encodeUnsigned(number, into: &output)
        case .double(let number):
            output.append(0xcb)
            appendBigEndian(number.bitPattern, to: &output)
        case .string(let text):
            let utf8 = text.utf8
            encodeLength(utf8.count, fix: (0xa0, 31), sized: (0xd9, 0xda, 0xdb), into: &output)
            output.append(contentsOf: utf8)
        case .binary(let bytes):
            // bin has no fix form; the 8-bit length is used even for tiny payloads.
            encodeLength(bytes.count, fix: nil, sized: (0xc4, 0xc5, 0xc6), into: &output)
            output.append(contentsOf: bytes)
        case .array(let elements):
            encodeLength(elements.count, fix: (0x90, 15), sized: nil, into: &output)
            for element in elements { encode(element, into: &output) }
        case .map(let entries):
            encodeLength(entries.count, fix: (0x80, 15), sized: nil, isMap: true, into: &output)
            for entry in entries {
                encode(entry.key, into: &output)
                encode(entry.value, into: &output)
            }
        case .dateTime(let date):
            encodeExtension(type: dateTimeExtensionType, payload: encode(dateTimePayload(date)), into: &output)
        case .extension(let type, let data):
            encodeExtension(type: type, payload: data, into: &output)
        }
    }

    /// The map oslo's `DateTimeHandler.serialize` builds, in its insertion order.
    static func dateTimePayload(_ date: OsloDateTime) -> MessagePackValue {
        var entries: [MessagePackMapEntry] = [
            MessagePackMapEntry("day", .int(Int64(date.day))),
            MessagePackMapEntry("month", .int(Int64(date.month))),
            MessagePackMapEntry("year", .int(Int64(date.year))),
            MessagePackMapEntry("hour", .int(Int64(date.hour))),
            MessagePackMapEntry("minute", .int(Int64(date.minute))),
            MessagePackMapEntry("second", .int(Int64(date.second))),
            MessagePackMapEntry("microsecond", .int(Int64(date.microsecond))),
        ]
        // oslo writes `tz` only when the datetime has a tzinfo, and reads an empty one as naive.
        if let zone = date.timeZone, !zone.isEmpty {
            entries.append(MessagePackMapEntry("tz", .string(zone)))
        }
        return .map(entries)
    }

    private static func encodeUnsigned(_ number: UInt64, into output: inout [UInt8]) {
        switch number {
        case 0...0x7f:
            output.append(UInt8(number))
        case 0x80...0xff:
            output.append(0xcc)
            output.append(UInt8(number))
        case 0x100...0xffff:
            output.append(0xcd)
            appendBigEndian(UInt16(number), to: &output)
        case 0x1_0000...0xffff_ffff:
            output.append(0xce)
            appendBigEndian(UInt32(number), to: &output)
        default:
            output.append(0xcf)
            appendBigEndian(number, to: &output)
        }
    }

    private static func encodeNegative(_ number: Int64, into output: inout [UInt8]) {
        switch number {
        case -32 ... -1:
            output.append(UInt8(bitPattern: Int8(number)))
        case -0x80 ... -33:
            output.append(0xd0)
            output.append(UInt8(bitPattern: Int8(number)))
        case -0x8000 ... -0x81:
            output.append(0xd1)
            appendBigEndian(UInt16(bitPattern: Int16(number)), to: &output)
        case -0x8000_0000 ... -0x8001:
            output.append(0xd2)
            appendBigEndian(UInt32(bitPattern: Int32(number)), to: &output)
        default:
            output.append(0xd3)
            appendBigEndian(UInt64(bitPattern: number), to: &output)
        }
    }

    /// Writes a length header: the fix form when `fix` allows it, then the 8-, 16- or 32-bit
    /// form (`sized`), or for arrays and maps (which have no 8-bit form) the 16- or 32-bit one.
    private static func encodeLength(
        _ count: Int, fix: (base: UInt8, maximum: Int)?, sized: (UInt8, UInt8, UInt8)?, isMap: Bool = false,
        into output: inout [UInt8]
    ) {
        precondition(count <= Int(UInt32.max), "msgpack cannot encode more than 2^32-1 bytes or elements")
        if let fix, count <= fix.maximum {
            output.append(fix.base | UInt8(count))
        } else if let sized {
            if count <= 0xff {
                output.append(sized.0)
                output.append(UInt8(count))
            } else if count <= 0xffff {
                output.append(sized.1)
                appendBigEndian(UInt16(count), to: &output)
            } else {
                output.append(sized.2)
                appendBigEndian(UInt32(count), to: &output)
            }
        } else if count <= 0xffff {
            output.append(isMap ? 0xde : 0xdc)
            appendBigEndian(UInt16(count), to: &output)
        } else {
            output.append(isMap ? 0xdf : 0xdd)
            appendBigEndian(UInt32(count), to: &output)
        }
    }

    private static func encodeExtension(type: Int8, payload: [UInt8], into output: inout [UInt8]) {
        let fixed: UInt8? =
            switch payload.count {
            case 1: 0xd4
            case 2: 0xd5
            case 4: 0xd6
            case 8: 0xd7
            case 16: 0xd8
            default: nil
            }
        if let fixed {
            output.append(fixed)
        } else {
            encodeLength(payload.count, fix: nil, sized: (0xc7, 0xc8, 0xc9), into: &output)
        }
        output.append(UInt8(bitPattern: type))
        output.append(contentsOf: payload)
    }

    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to output: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { output.append(contentsOf: $0) }
    }

    // MARK: Decoding

    /// Decodes one msgpack value that must span all of `bytes`, as oslo's `loads` does.
    ///
    /// Extension type 1 becomes ``MessagePackValue/dateTime(_:)``; other extension types are
    /// returned as ``MessagePackValue/extension(type:data:)``.
    ///
    /// - Throws: ``ToozError`` with code ``ToozError/Code/serializationFailed`` for truncated or
    ///   malformed input, trailing bytes, invalid UTF-8 in a str, a malformed datetime, or
    ///   nesting deeper than ``maximumDepth``.
    public static func decode(_ bytes: [UInt8]) throws(ToozError) -> MessagePackValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(ToozError) -> MessagePackValue in
            try decodeWhole(buffer, depth: 0)
        }
    }

    private static func decodeWhole(_ buffer: UnsafeBufferPointer<UInt8>, depth: Int) throws(ToozError)
        -> MessagePackValue
    {
        var reader = Reader(buffer: buffer)
        let value = try decodeValue(&reader, baseDepth: depth)
        if reader.remaining > 0 {
            throw failure("\(reader.remaining) unexpected trailing byte(s) after the value at offset \(reader.offset)")
        }
        return value
    }

    /// A container being filled. Maps collect keys and values alternately in `items`.
    private struct Frame {
        var isMap: Bool
        var expected: Int
        var items: [MessagePackValue] = []
    }

    /// What one header byte (and its payload) turned out to be.
    private enum Token {
        case value(MessagePackValue)
        case array(Int)
        case map(Int)
    }

    /// Decodes one value with an explicit stack instead of recursion, so hostile nesting cannot
    /// overflow the thread's stack before the depth limit is reached.
    private static func decodeValue(_ reader: inout Reader, baseDepth: Int) throws(ToozError) -> MessagePackValue {
        var stack: [Frame] = []
        while true {
            let start = reader.offset
            var value: MessagePackValue
            switch try readToken(&reader, depth: baseDepth + stack.count) {
            case .value(let scalar):
                value = scalar
            case .array(let count):
                // Every element takes at least one byte, so a count beyond the input is a lie.
                guard count <= reader.remaining else {
                    throw failure("truncated input: array at offset \(start) claims \(count) elements but only \(reader.remaining) bytes remain")
                }
                if count > 0 {
                    try push(Frame(isMap: false, expected: count), onto: &stack, depth: baseDepth, offset: start)
                    continue
                }
                value = .array([])
            case .map(let count):
                guard count <= reader.remaining / 2 else {
                    throw failure("truncated input: map at offset \(start) claims \(count) entries but only \(reader.remaining) bytes remain")
                }
                if count > 0 {
                    try push(Frame(isMap: true, expected: count * 2), onto: &stack, depth: baseDepth, offset: start)
                    continue
                }
                value = .map([])
            }
            // Hand the finished value to its parent, closing every container it completes.
            while !stack.isEmpty {
                let top = stack.count - 1
                stack[top].items.append(value)
                guard stack[top].items.count == stack[top].expected else { break }
                let frame = stack.removeLast()
                if frame.isMap {
                    var entries: [MessagePackMapEntry] = []
                    entries.reserveCapacity(frame.items.count / 2)
                    var index = 0
                    while index < frame.items.count {
                        entries.append(MessagePackMapEntry(frame.items[index], frame.items[index + 1]))
                        index += 2
                    }
                    value = .map(entries)
                } else {
                    value = .array(frame.items)
                }
            }
            if stack.isEmpty { return value }
        }
    }

    private static func push(_ frame: Frame, onto stack: inout [Frame], depth: Int, offset: Int) throws(ToozError) {
        guard depth + stack.count < maximumDepth else {
            throw failure("nesting deeper than \(maximumDepth) levels at offset \(offset)")
        }
        stack.append(frame)
    }

    private static func readToken(_ reader: inout Reader, depth: Int) throws(ToozError) -> Token {
        let start = reader.offset
        let byte = try reader.readByte()
        switch byte {
        case 0x00...0x7f: return .value(.int(Int64(byte)))
        case 0x80...0x8f: return .map(Int(byte & 0x0f))
        case 0x90...0x9f: return .array(Int(byte & 0x0f))
        case 0xa0...0xbf: return .value(try readString(&reader, count: Int(byte & 0x1f), at: start))
        case 0xc0: return .value(.nil)
        case 0xc1: throw failure("reserved type byte 0xc1 at offset \(start)")
        case 0xc2: return .value(.bool(false))
        case 0xc3: return .value(.bool(true))
        case 0xc4: return .value(.binary(Array(try reader.read(Int(try reader.readInteger(UInt8.self))))))
        case 0xc5: return .value(.binary(Array(try reader.read(Int(try reader.readInteger(UInt16.self))))))
        case 0xc6: return .value(.binary(Array(try reader.read(Int(try reader.readInteger(UInt32.self))))))
        case 0xc7: return .value(try readExtension(&reader, count: Int(try reader.readInteger(UInt8.self)), depth: depth))
        case 0xc8: return .value(try readExtension(&reader, count: Int(try reader.readInteger(UInt16.self)), depth: depth))
        case 0xc9: return .value(try readExtension(&reader, count: Int(try reader.readInteger(UInt32.self)), depth: depth))
        case 0xca: return .value(.double(Double(Float(bitPattern: try reader.readInteger(UInt32.self)))))
        case 0xcb: return .value(.double(Double(bitPattern: try reader.readInteger(UInt64.self))))
        case 0xcc: return .value(.int(Int64(try reader.readInteger(UInt8.self))))
        case 0xcd: return .value(.int(Int64(try reader.readInteger(UInt16.self))))
        case 0xce: return .value(.int(Int64(try reader.readInteger(UInt32.self))))
        case 0xcf:
            let number = try reader.readInteger(UInt64.self)
            // Keep one representation per number: .uint only for what .int cannot hold.
            return .value(number <= UInt64(Int64.max) ? .int(Int64(number)) : .uint(number))
        case 0xd0: return .value(.int(Int64(Int8(bitPattern: try reader.readInteger(UInt8.self)))))
        case 0xd1: return .value(.int(Int64(Int16(bitPattern: try reader.readInteger(UInt16.self)))))
        case 0xd2: return .value(.int(Int64(Int32(bitPattern: try reader.readInteger(UInt32.self)))))
        case 0xd3: return .value(.int(Int64(bitPattern: try reader.readInteger(UInt64.self))))
        case 0xd4: return .value(try readExtension(&reader, count: 1, depth: depth))
        case 0xd5: return .value(try readExtension(&reader, count: 2, depth: depth))
        case 0xd6: return .value(try readExtension(&reader, count: 4, depth: depth))
        case 0xd7: return .value(try readExtension(&reader, count: 8, depth: depth))
        case 0xd8: return .value(try readExtension(&reader, count: 16, depth: depth))
        case 0xd9: return .value(try readString(&reader, count: Int(try reader.readInteger(UInt8.self)), at: start))
        case 0xda: return .value(try readString(&reader, count: Int(try reader.readInteger(UInt16.self)), at: start))
        case 0xdb: return .value(try readString(&reader, count: Int(try reader.readInteger(UInt32.self)), at: start))
        case 0xdc: return .array(Int(try reader.readInteger(UInt16.self)))
        case 0xdd: return .array(Int(try reader.readInteger(UInt32.self)))
        case 0xde: return .map(Int(try reader.readInteger(UInt16.self)))
        case 0xdf: return .map(Int(try reader.readInteger(UInt32.self)))
        default: return .value(.int(Int64(Int8(bitPattern: byte))))  // 0xe0...0xff: negative fixint
        }
    }

    private static func readString(_ reader: inout Reader, count: Int, at offset: Int) throws(ToozError)
        -> MessagePackValue
    {
        let bytes = try reader.read(count)
        // msgpack-python (raw=False) refuses invalid UTF-8 rather than repairing it.
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw failure("str at offset \(offset) is not valid UTF-8")
        }
        return .string(text)
    }

    private static func readExtension(_ reader: inout Reader, count: Int, depth: Int) throws(ToozError)
        -> MessagePackValue
    {
        let start = reader.offset
        let type = Int8(bitPattern: try reader.readByte())
        let payload = try reader.read(count)
        guard type == dateTimeExtensionType else {
            return .extension(type: type, data: Array(payload))
        }
        // The payload is a msgpack document of its own, one level further down.
        guard depth < maximumDepth else {
            throw failure("nesting deeper than \(maximumDepth) levels at offset \(start)")
        }
        let inner: MessagePackValue
        do {
            inner = try decodeWhole(UnsafeBufferPointer(rebasing: payload), depth: depth + 1)
        } catch {
            throw failure("datetime extension at offset \(start - 1): \(error.message)")
        }
        return .dateTime(try dateTime(from: inner, at: start - 1))
    }

    /// Rebuilds a datetime the way oslo's `DateTimeHandler.deserialize` does, including its
    /// fallback for payloads written by Python 2 (bytes keys and a bytes `tz`).
    static func dateTime(from payload: MessagePackValue, at offset: Int) throws(ToozError) -> OsloDateTime {
        guard case .map(let entries) = payload else {
            throw failure("datetime extension at offset \(offset) does not hold a map")
        }
        var fields: [String: MessagePackValue] = [:]
        for entry in entries {
            guard let key = entry.key.stringValue else {
                throw failure("datetime extension at offset \(offset) has a key that is not a string")
            }
            fields[key] = entry.value  // later duplicates win, as in a Python dict
        }
        func component(_ name: String, _ range: ClosedRange<Int>) throws(ToozError) -> Int {
            guard let field = fields[name] else {
                throw failure("datetime extension at offset \(offset) lacks `\(name)'")
            }
            guard let number = field.intValue, range.contains(number) else {
                throw failure("datetime extension at offset \(offset) has an invalid `\(name)': \(field)")
            }
            return number
        }
        let year = try component("year", 1...9999)
        let month = try component("month", 1...12)
        let day = try component("day", 1...daysIn(month: month, year: year))
        let hour = try component("hour", 0...23)
        let minute = try component("minute", 0...59)
        let second = try component("second", 0...59)
        let microsecond = try component("microsecond", 0...999_999)
        var timeZone: String?
        switch fields["tz"] {
        case nil, .nil?:
            timeZone = nil
        case let zone?:
            guard let name = zone.stringValue else {
                throw failure("datetime extension at offset \(offset) has an invalid `tz': \(zone)")
            }
            timeZone = name.isEmpty ? nil : name
        }
        return OsloDateTime(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            microsecond: microsecond, timeZone: timeZone)
    }

    /// Python's `datetime` refuses impossible dates, so a payload holding one fails to load there.
    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func failure(_ message: String) -> ToozError {
        ToozError(.serializationFailed, "Invalid msgpack data: \(message)")
    }

    /// A bounds-checked cursor over the input.
    private struct Reader {
        let buffer: UnsafeBufferPointer<UInt8>
        var offset = 0

        var remaining: Int { buffer.count - offset }

        mutating func readByte() throws(ToozError) -> UInt8 {
            guard offset < buffer.count else {
                throw OsloMsgPack.failure("truncated input: expected 1 more byte at offset \(offset)")
            }
            defer { offset += 1 }
            return buffer[offset]
        }

        mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws(ToozError) -> T {
            let bytes = try read(MemoryLayout<T>.size)
            var number: T = 0
            for byte in bytes { number = number << 8 | T(byte) }
            return number
        }

        /// The next `count` bytes, checked against the input before anything is sliced.
        mutating func read(_ count: Int) throws(ToozError) -> Slice<UnsafeBufferPointer<UInt8>> {
            guard count <= remaining else {
                throw OsloMsgPack.failure(
                    "truncated input: expected \(count) bytes at offset \(offset), only \(remaining) remain")
            }
            defer { offset += count }
            return buffer[offset..<(offset + count)]
        }
    }
}

extension MessagePackValue {
    /// Decodes oslo msgpack bytes; see ``OsloMsgPack/decode(_:)``.
    ///
    /// - Throws: ``ToozError`` with code ``ToozError/Code/serializationFailed`` for malformed input.
    public init(decoding bytes: [UInt8]) throws(ToozError) {
        self = try OsloMsgPack.decode(bytes)
    }

    /// The bytes Python tooz would store for this value; see ``OsloMsgPack/encode(_:)``.
    public var encoded: [UInt8] {
        OsloMsgPack.encode(self)
    }
}
