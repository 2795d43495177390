/// Values spliced into SQL text as hexadecimal literals (`X'6d79…'`): a literal made only of hex
/// digits cannot end early or change the statement, whatever the bytes hold (quotes,
/// backslashes, NULs), and it carries the exact bytes with no character-set conversion —
/// the way PyMySQL sends Python tooz's lock names (`_binary X'…'`), so both name the same lock.
package enum MySQLLiteral {
    /// `X'…'` for `bytes` (`X''` when empty).
    package static func binary(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("X'".utf8)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        text.append(UInt8(ascii: "'"))
        return String(decoding: text, as: UTF8.self)
    }

    /// The UTF-8 bytes of `string`, as ``binary(_:)``.
    package static func binary(_ string: String) -> String {
        binary(string.utf8)
    }

    /// The longest wait or idle timeout we send: a year, `wait_timeout`'s maximum.
    package static let longestSeconds: Int64 = 31_536_000

    /// A duration in seconds with millisecond precision (`1.250`), for `GET_LOCK`'s timeout;
    /// at most ``longestSeconds``.
    package static func seconds(_ duration: Duration) -> String {
        let (whole, attoseconds) = duration.components
        let milliseconds = whole >= longestSeconds ? longestSeconds * 1000 : max(0, whole * 1000 + attoseconds / 1_000_000_000_000_000)
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// Whole seconds, rounded up and at least 1: `wait_timeout` takes integers, and the server
    /// must keep a lease at least as long as the client counts on it.
    package static func wholeSecondsUp(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds < longestSeconds else { return longestSeconds }
        return max(1, seconds + (attoseconds > 0 ? 1 : 0))
    }
}
