/// Thrown by ``RESPDecoder`` when the bytes are not valid RESP or break a configured limit.
///
/// Once thrown, the stream cannot be resynchronised: the connection must be closed.
package struct RESPDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of malformation was found.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidType, invalidLength, invalidInteger, invalidValue, missingCRLF, tooLarge, tooDeep
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The first byte of a value is not a RESP type marker.
        package static var invalidType: Code { Code(.invalidType) }
        /// A bulk or aggregate length is not a decimal, or is negative other than `-1`.
        package static var invalidLength: Code { Code(.invalidLength) }
        /// An `:` integer is not a decimal or does not fit in 64 bits.
        package static var invalidInteger: Code { Code(.invalidInteger) }
        /// A boolean, double, big number or verbatim string has a malformed body.
        package static var invalidValue: Code { Code(.invalidValue) }
        /// A line or bulk payload is not terminated by exactly `\r\n`.
        package static var missingCRLF: Code { Code(.missingCRLF) }
        /// A bulk length, element count or line length exceeds the decoder's limits.
        package static var tooLarge: Code { Code(.tooLarge) }
        /// Aggregates are nested deeper than the decoder allows.
        package static var tooDeep: Code { Code(.tooDeep) }

        package var description: String { "\(self.base)" }
    }

    /// The kind of error.
    package var code: Code
    /// What was wrong, for logs; never contains payload bytes.
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "RESPDecodingError.\(self.code): \(self.message)" }
}
