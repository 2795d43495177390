import Foundation
import ToozBackends

/// The mapping between capabilities (oslo msgpack values) and JSON used by `--capabilities`,
/// `members --json` and `watch --json`. It round-trips every value; ``helpText`` documents it.
enum CapabilitiesJSON {
    static let helpText = """
        Capabilities as JSON: null, true/false, integers, numbers with a fraction or exponent, strings, \
        arrays and objects are msgpack nil, bool, int, float, str, array and map. Bytes (msgpack bin) are \
        {"$binary": "<base64>"}. A map with a key that is not a string, or a key starting with "$", is \
        {"$map": [[key, value], ...]}. A Python datetime is {"$datetime": "YYYY-MM-DDTHH:MM:SS.ffffff"} \
        (plus "tz": "<zone>" when it has one); another msgpack extension is {"$ext": <type>, "data": "<base64>"}. \
        A float without a fraction is written with ".0"; NaN and infinities are written as null.
        """

    // MARK: msgpack → JSON

    static func json(_ value: MessagePackValue) -> JSONValue {
        switch value {
        case .nil: return .null
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .uint(let number): return .uint(number)
        case .double(let number): return .double(number)
        case .string(let text): return .string(text)
        case .binary(let bytes): return .object([("$binary", .string(Data(bytes).base64EncodedString()))])
        case .array(let values): return .array(values.map(json))
        case .map(let entries):
            var plain: [(String, JSONValue)] = []
            for entry in entries {
                guard case .string(let key) = entry.key, !key.hasPrefix("$") else {
                    return .object([("$map", .array(entries.map { .array([json($0.key), json($0.value)]) }))])
                }
                plain.append((key, json(entry.value)))
            }
            return .object(plain)
        case .dateTime(let date):
            var entries: [(String, JSONValue)] = [("$datetime", .string(format(date)))]
            if let zone = date.timeZone { entries.append(("tz", .string(zone))) }
            return .object(entries)
        case .extension(let type, let data):
            return .object([("$ext", .int(Int64(type))), ("data", .string(Data(data).base64EncodedString()))])
        }
    }

    // MARK: JSON → msgpack

    /// Parses `--capabilities` text.
    static func parse(_ text: String) throws(CLIFailure) -> Capabilities {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw CLIFailure(.dataError, "--capabilities is not valid JSON: \(error)")
        }
        return try value(json)
    }

    static func value(_ json: JSONValue) throws(CLIFailure) -> MessagePackValue {
        switch json {
        case .null: return .nil
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .uint(let number): return .uint(number)
        case .double(let number): return .double(number)
        case .string(let text): return .string(text)
        case .array(let values):
            var result: [MessagePackValue] = []
            for element in values { result.append(try value(element)) }
            return .array(result)
        case .object(let entries):
            if let special = try tagged(entries) { return special }
            var result: [MessagePackMapEntry] = []
            for (key, element) in entries { result.append(MessagePackMapEntry(.string(key), try value(element))) }
            return .map(result)
        }
    }

    /// The `{"$…": …}` forms; `nil` for an ordinary object.
    private static func tagged(_ entries: [(String, JSONValue)]) throws(CLIFailure) -> MessagePackValue? {
        guard let tag = entries.first?.0, tag.hasPrefix("$") else { return nil }
        let object = JSONValue.object(entries)
        switch tag {
        case "$binary":
            guard entries.count == 1, case .string(let text) = entries[0].1, let data = Data(base64Encoded: text) else {
                throw CLIFailure(.dataError, #"{"$binary": …} must hold exactly one base64 string"#)
            }
            return .binary(Array(data))
        case "$map":
            guard entries.count == 1, case .array(let pairs) = entries[0].1 else {
                throw CLIFailure(.dataError, #"{"$map": …} must hold exactly one array of [key, value] pairs"#)
            }
            var result: [MessagePackMapEntry] = []
            for pair in pairs {
                guard case .array(let items) = pair, items.count == 2 else {
                    throw CLIFailure(.dataError, #"each element of {"$map": …} must be a [key, value] pair"#)
                }
                result.append(MessagePackMapEntry(try value(items[0]), try value(items[1])))
            }
            return .map(result)
        case "$datetime":
            guard case .string(let text)? = object["$datetime"], var date = parseDate(text),
                entries.allSatisfy({ $0.0 == "$datetime" || $0.0 == "tz" })
            else {
                throw CLIFailure(.dataError, #"{"$datetime": …} must hold "YYYY-MM-DDTHH:MM:SS[.ffffff]" and optionally "tz""#)
            }
            if let zone = object["tz"] {
                guard case .string(let name) = zone else { throw CLIFailure(.dataError, #""tz" of a $datetime must be a string"#) }
                date.timeZone = name
            }
            return .dateTime(date)
        case "$ext":
            guard entries.count == 2, case .int(let type)? = object["$ext"], let code = Int8(exactly: type),
                case .string(let text)? = object["data"], let data = Data(base64Encoded: text)
            else {
                throw CLIFailure(.dataError, #"{"$ext": …} must hold an extension type (-128…127) and "data" in base64"#)
            }
            return .extension(type: code, data: Array(data))
        default:
            throw CLIFailure(
                .dataError,
                "unknown tag \(tag.debugDescription) in --capabilities (keys starting with \"$\" are reserved: use {\"$map\": …})"
            )
        }
    }

    // MARK: Datetimes

    static func format(_ date: OsloDateTime) -> String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))T"
            + "\(pad(date.hour, 2)):\(pad(date.minute, 2)):\(pad(date.second, 2)).\(pad(date.microsecond, 6))"
    }

    static func parseDate(_ text: String) -> OsloDateTime? {
        let parts = text.split(separator: "T", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let day = parts[0].split(separator: "-").compactMap { Int($0) }
        let timeAndFraction = parts[1].split(separator: ".", maxSplits: 1)
        let time = timeAndFraction[0].split(separator: ":").compactMap { Int($0) }
        guard day.count == 3, time.count == 3 else { return nil }
        var microsecond = 0
        if timeAndFraction.count == 2 {
            let fraction = timeAndFraction[1]
            guard (1...6).contains(fraction.count), let value = Int(fraction) else { return nil }
            microsecond = value * Int(pow(10.0, Double(6 - fraction.count)))
        }
        guard (1...9999).contains(day[0]), (1...12).contains(day[1]), (1...31).contains(day[2]),
            (0...23).contains(time[0]), (0...59).contains(time[1]), (0...59).contains(time[2])
        else { return nil }
        return OsloDateTime(
            year: day[0], month: day[1], day: day[2], hour: time[0], minute: time[1], second: time[2],
            microsecond: microsecond
        )
    }
}
