/// How one ``RedisConnection`` authenticates, which database it uses, and how long it waits.
///
/// The password never appears in ``description``, in a mirror (`dump`), in an error message or
/// in a log line.
package struct RedisConnectionConfiguration: Sendable {
    /// The ACL user; `nil` authenticates as `default` when a ``password`` is set.
    package var username: String?
    /// The password (`requirepass` or the ACL user's); `nil` does not authenticate.
    package var password: String?
    /// The database to `SELECT` after connecting (tooz `db`); `nil` keeps the server's default, 0.
    package var database: Int?
    /// TLS, or `nil` for a plain connection.
    package var tls: RedisTLSConfiguration?
    /// The longest wait for the TCP connection, and then for the reply to each handshake
    /// command (`HELLO`, which also waits for TLS to be set up, and `SELECT`).
    package var connectTimeout: Duration = .seconds(5)
    /// The longest wait for the reply to a command, unless ``RedisCommand/timeout`` says
    /// otherwise. When it passes, the connection is closed: later replies would be out of step.
    package var commandTimeout: Duration = .seconds(10)
    /// Sent as the connection's name (`CLIENT SETNAME`, shown by `CLIENT LIST`).
    package var clientName: String?
    /// Bounds on the replies the decoder accepts.
    package var decoderLimits = RESPDecoder.Limits()

    package init() {}
}

extension RedisConnectionConfiguration: CustomStringConvertible, CustomReflectable {
    package var description: String {
        var parts: [String] = []
        if let username { parts.append("username: \(username.debugDescription)") }
        parts.append("password: \(self.password == nil ? "nil" : "<redacted>")")
        if let database { parts.append("database: \(database)") }
        parts.append("tls: \(self.tls == nil ? "off" : "on")")
        parts.append("connectTimeout: \(self.connectTimeout)")
        parts.append("commandTimeout: \(self.commandTimeout)")
        if let clientName { parts.append("clientName: \(clientName.debugDescription)") }
        return "RedisConnectionConfiguration(\(parts.joined(separator: ", ")))"
    }

    // Without this, `dump` and debuggers would show the stored password.
    package var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "username": self.username as Any,
                "password": (self.password == nil ? "nil" : "<redacted>") as Any,
                "database": self.database as Any,
                "tls": self.tls as Any,
                "connectTimeout": self.connectTimeout,
                "commandTimeout": self.commandTimeout,
                "clientName": self.clientName as Any,
                "decoderLimits": self.decoderLimits,
            ],
            displayStyle: .struct
        )
    }
}
