/// A parsed backend URL, in tooz's form: `scheme://[user[:password]@]host[:port][/path][?key=value&…]`.
///
/// Query options keep every value in order (tooz's `parse_qs`); ``option(_:)`` returns the last,
/// as tooz's drivers do. The password is kept for the backend but never shown: ``description``
/// and ``redacted`` replace it with `***`.
public struct BackendURL: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var user: String?
    public var password: String?
    /// The host part; an IPv6 address is kept without its brackets.
    public var host: String?
    public var port: Int?
    /// The path, percent-decoded (`/var/lib/tooz` for `file:///var/lib/tooz`).
    public var path: String
    /// Every query option with all its values, in order.
    public var options: [String: [String]]

    /// Parses `string`. Throws `invalidConfiguration` for a malformed URL.
    public init(_ string: String) throws(ToozError) {
        guard let schemeEnd = string.firstRange(of: "://") else {
            throw ToozError(
                .invalidConfiguration,
                "backend URL \(BackendURL.redact(string).debugDescription) has no scheme; expected scheme://…"
            )
        }
        let scheme = String(string[..<schemeEnd.lowerBound]).lowercased()
        guard !scheme.isEmpty,
            scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." })
        else {
            throw ToozError(.invalidConfiguration, "backend URL has an invalid scheme \(scheme.debugDescription)")
        }
        self.scheme = scheme
        var rest = Substring(string[schemeEnd.upperBound...])
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var authority = rest
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[slash...]
        }
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                self.user = try BackendURL.percentDecode(userInfo[..<colon], what: "user name")
                self.password = try BackendURL.percentDecode(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                self.user = try BackendURL.percentDecode(userInfo, what: "user name")
            }
        }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw ToozError(.invalidConfiguration, "backend URL has an unclosed IPv6 address bracket")
            }
            self.host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw ToozError(.invalidConfiguration, "backend URL has junk after the IPv6 address")
                }
                self.port = try BackendURL.parsePort(after.dropFirst())
            }
        } else if let colon = authority.lastIndex(of: ":") {
            let host = authority[..<colon]
            self.host = host.isEmpty ? nil : String(host)
            self.port = try BackendURL.parsePort(authority[authority.index(after: colon)...])
        } else if !authority.isEmpty {
            self.host = String(authority)
        }
        self.path = try BackendURL.percentDecode(path, what: "path")
        self.options = try BackendURL.parseQuery(query)
    }

    /// The last value of `name`, tooz's `collapse`.
    public func option(_ name: String) -> String? { options[name]?.last }

    /// The URL as text, with the password replaced by `***`.
    public var redacted: String {
        var text = scheme + "://"
        if let user {
            text += user
            if password != nil { text += ":***" }
            text += "@"
        }
        if let host { text += host.contains(":") ? "[\(host)]" : host }
        if let port { text += ":\(port)" }
        text += path
        if !options.isEmpty {
            text += "?" + options.keys.sorted().flatMap { key in options[key]!.map { "\(key)=\($0)" } }
                .joined(separator: "&")
        }
        return text
    }

    public var description: String { redacted }

    /// Redacts the password of a URL that may not even parse, for error messages.
    public static func redact(_ string: String) -> String {
        guard let schemeEnd = string.firstRange(of: "://") else { return string }
        let afterScheme = string[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return string
        }
        return String(string[..<colon]) + ":***" + String(string[at...])
    }

    /// Checks that every option is one of `accepted`; throws `invalidConfiguration` naming the
    /// unknown one and listing what is accepted.
    public func validateOptions(accepted: Set<String>) throws(ToozError) {
        for key in options.keys.sorted() where !accepted.contains(key) {
            throw ToozError(
                .invalidConfiguration,
                "unknown option \(key.debugDescription) for \(scheme):// (accepted: \(accepted.sorted().joined(separator: ", ")))"
            )
        }
    }

    /// A number of seconds (integer or decimal, as tooz accepts) as a `Duration`.
    public func durationOption(_ name: String) throws(ToozError) -> Duration? {
        guard let text = option(name) else { return nil }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 * 365 else {
            throw ToozError(
                .invalidConfiguration,
                "option \(name)=\(text.debugDescription) must be a positive number of seconds"
            )
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// A positive integer option.
    public func intOption(_ name: String, range: ClosedRange<Int>) throws(ToozError) -> Int? {
        guard let text = option(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ToozError(
                .invalidConfiguration,
                "option \(name)=\(text.debugDescription) must be an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return value
    }

    /// A boolean option in oslo's spellings (true/false, yes/no, on/off, 1/0).
    public func boolOption(_ name: String) throws(ToozError) -> Bool? {
        guard let text = option(name) else { return nil }
        switch text.lowercased() {
        case "1", "t", "true", "on", "y", "yes": return true
        case "0", "f", "false", "off", "n", "no": return false
        default:
            throw ToozError(.invalidConfiguration, "option \(name)=\(text.debugDescription) must be true or false")
        }
    }

    private static func parsePort(_ text: Substring) throws(ToozError) -> Int? {
        if text.isEmpty { return nil }
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw ToozError(.invalidConfiguration, "backend URL has an invalid port \(String(text).debugDescription)")
        }
        return port
    }

    private static func parseQuery(_ query: Substring) throws(ToozError) -> [String: [String]] {
        var options: [String: [String]] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try percentDecode(parts[0], what: "option name", plusIsSpace: true)
            let value = parts.count > 1 ? try percentDecode(parts[1], what: "option value", plusIsSpace: true) : ""
            // parse_qs drops blank values unless asked to keep them.
            if key.isEmpty || value.isEmpty { continue }
            options[key, default: []].append(value)
        }
        return options
    }

    static func percentDecode(_ text: Substring, what: String, plusIsSpace: Bool = false) throws(ToozError) -> String {
        guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw ToozError(.invalidConfiguration, "backend URL has a bad percent escape in its \(what)")
                }
                bytes.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ToozError(.invalidConfiguration, "backend URL's \(what) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    /// The value of one hex digit, either case; `nil` for any other byte.
    package static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
