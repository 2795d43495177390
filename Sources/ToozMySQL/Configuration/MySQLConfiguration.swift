import Tooz

/// Everything the `mysql://` backend needs: how to reach the server (a
/// ``MySQLConnectionConfiguration``), where its tables live, and how long a statement may take.
///
/// Built from a tooz URL by ``MySQLConfiguration/make(url:)``. Nothing that prints a
/// configuration prints the password.
package struct MySQLConfiguration: Sendable, CustomStringConvertible {
    package var connection: MySQLConnectionConfiguration
    /// What our table names start with (default `tooz_`), in the URL's database.
    package var tablePrefix: String
    /// How long one statement may take before its connection is closed (a frozen server, a
    /// half-open connection). Blocking lock waits get their own deadline on top of it.
    package var statementTimeout: Duration

    package init(connection: MySQLConnectionConfiguration, tablePrefix: String = "tooz_", statementTimeout: Duration = .seconds(10)) {
        self.connection = connection
        self.tablePrefix = tablePrefix
        self.statementTimeout = statementTimeout
    }

    /// The server and database, never the password.
    package var description: String { connection.description }

    /// A table prefix spliced into SQL as is: ASCII letters, digits and `_`, a letter or `_`
    /// first, short enough that our longest table name stays within MySQL's 64 characters.
    package static func isValidTablePrefix(_ prefix: String) -> Bool {
        let bytes = Array(prefix.utf8)
        guard let first = bytes.first, bytes.count <= 48 else { return false }
        let isLetter = { (byte: UInt8) in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        return isLetter(first) && bytes.allSatisfy { isLetter($0) || isDigit($0) }
    }
}
