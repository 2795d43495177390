/// Thrown by ``MemcachedDecoder`` when the bytes are not a meta-protocol reply or break a limit.
///
/// Once thrown, the stream cannot be resynchronised: the connection must be closed.
package struct MemcachedDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of malformation was found.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidStatus, invalidSize, invalidFlag, missingCRLF, tooLarge
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The line starts with no meta-protocol status (an HTTP server, an old text-protocol reply).
        package static var invalidStatus: Code { Code(.invalidStatus) }
        /// A `VA` size is missing or not a decimal.
        package static var invalidSize: Code { Code(.invalidSize) }
        /// A return flag this client reads (`f`, `c`, `t`) holds no number.
        package static var invalidFlag: Code { Code(.invalidFlag) }
        /// A line or value is not terminated by exactly `\r\n`.
        package static var missingCRLF: Code { Code(.missingCRLF) }
        /// A line or value exceeds the decoder's limits.
        package static var tooLarge: Code { Code(.tooLarge) }

        package var description: String { "\(self.base)" }
    }

    /// The kind of error.
    package var code: Code
    /// What was wrong, for logs; never contains value bytes.
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "MemcachedDecodingError.\(self.code): \(self.message)" }
}
