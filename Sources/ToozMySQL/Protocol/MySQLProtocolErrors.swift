import Tooz

/// Thrown when the server's bytes are not what the protocol allows: a truncated or malformed
/// packet, a sequence id out of step, a packet where none is expected.
///
/// Once thrown, the stream cannot be resynchronised: the connection must be closed.
package struct MySQLDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of malformation was found.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case truncated, malformed, wrongSequence, tooLarge, unexpectedPacket
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The packet ends before a field it must hold.
        package static var truncated: Code { Code(.truncated) }
        /// A field holds a value the protocol does not allow.
        package static var malformed: Code { Code(.malformed) }
        /// A packet's sequence id is not the next one.
        package static var wrongSequence: Code { Code(.wrongSequence) }
        /// A packet is larger than the decoder accepts.
        package static var tooLarge: Code { Code(.tooLarge) }
        /// A well-formed packet arrived where the protocol allows no such packet.
        package static var unexpectedPacket: Code { Code(.unexpectedPacket) }

        package var description: String { "\(self.base)" }
    }

    /// The kind of error.
    package var code: Code
    /// What was wrong, for logs and error messages; never contains row data.
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "MySQLDecodingError.\(self.code): \(self.message)" }
}

/// An ERR packet: the server refused a command or the login.
///
/// The message is the server's own words (they name the user and host of a failed login, never
/// the password).
package struct MySQLServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server's error number (`1045` access denied, `1146` no such table, ...).
    package var code: UInt16
    /// The five-character SQLSTATE (`28000`, `42S02`, ...), `HY000` when the server sent none.
    package var sqlState: String
    /// The server's message.
    package var message: String

    package init(code: UInt16, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    /// `ER_LOCK_WAIT_TIMEOUT`: a row lock wait ran out of `innodb_lock_wait_timeout`.
    package static let lockWaitTimeout: UInt16 = 1205
    /// MariaDB's `ER_STATEMENT_TIMEOUT`: `max_statement_time` was exceeded.
    package static let statementTimeout: UInt16 = 1969
    /// MySQL's `ER_QUERY_TIMEOUT`: `max_execution_time` was exceeded.
    package static let queryTimeout: UInt16 = 3024

    /// Whether the error says a wait or a statement ran out of time on the server.
    package var isTimeout: Bool {
        self.code == Self.lockWaitTimeout || self.code == Self.statementTimeout || self.code == Self.queryTimeout
    }

    /// `message (error N, SQLSTATE S)`.
    package var description: String { "\(self.message) (error \(self.code), SQLSTATE \(self.sqlState))" }

    /// The server error inside `error`: itself, or the `underlying` of a `ToozError`, at any depth.
    package static func of(_ error: any Error) -> MySQLServerError? {
        var current: (any Error)? = error
        // Bounded: a chain of underlying errors is short, and a cycle must not loop for ever.
        for _ in 0..<8 {
            guard let error = current else { return nil }
            if let server = error as? MySQLServerError { return server }
            guard let tooz = error as? ToozError else { return nil }
            current = tooz.underlying
        }
        return nil
    }
}
