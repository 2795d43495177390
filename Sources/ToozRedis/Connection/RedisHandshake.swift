import Tooz

/// The commands that open a Redis connection, and what their replies mean.
///
/// `HELLO 3 [AUTH user password] [SETNAME name]` first. A server without `HELLO` (before Redis
/// 6, some proxies) or without RESP3 (`NOPROTO`) gets `AUTH`, `CLIENT SETNAME` and a `PING` in
/// RESP2 instead. Then `SELECT`. The replies also prove that the peer is a Redis server at all.
///
/// Server error texts go into messages only after the password is cut out of them: Redis's
/// "unknown command" error quotes the first arguments, and `HELLO`'s include it.
struct RedisHandshake {
    struct Outcome {
        var protocolVersion: Int
        var serverVersion: String?
    }

    let endpoint: RedisEndpoint
    let configuration: RedisConnectionConfiguration

    /// Runs the handshake, sending each command with `send`.
    func run(_ send: (RedisCommand) async throws -> RESPValue) async throws -> Outcome {
        var arguments: [any RESPBulkConvertible] = ["3"]
        if let password = self.configuration.password {
            arguments += ["AUTH", self.configuration.username ?? "default", password]
        }
        if let clientName = self.configuration.clientName {
            arguments += ["SETNAME", clientName]
        }
        let hello = try await send(RedisCommand("HELLO", arguments: arguments))

        var outcome: Outcome
        if let message = hello.errorMessage {
            let code = Self.errorCode(message)
            if code == "NOPROTO" || (code == "ERR" && message.lowercased().contains("unknown command")) {
                outcome = try await self.runRESP2(send)
            } else {
                throw self.refusal(of: "HELLO", code: code, message: message)
            }
        } else {
            outcome = try self.parseHello(hello)
        }

        if let database = self.configuration.database {
            let reply = try await send(RedisCommand("SELECT", database))
            if let message = reply.errorMessage {
                throw ToozError(
                    .connectionFailed,
                    "the Redis server at \(self.endpoint) refused SELECT \(database): \(self.redacted(message))"
                )
            }
            guard reply.string == "OK" else {
                throw ToozError(.connectionFailed, "the Redis server at \(self.endpoint) did not answer SELECT \(database) with OK")
            }
        }
        return outcome
    }

    private func runRESP2(_ send: (RedisCommand) async throws -> RESPValue) async throws -> Outcome {
        if let password = self.configuration.password {
            let auth =
                if let username = self.configuration.username {
                    RedisCommand("AUTH", username, password)
                } else {
                    RedisCommand("AUTH", password)
                }
            let reply = try await send(auth)
            if let message = reply.errorMessage {
                throw self.refusal(of: "AUTH", code: Self.errorCode(message), message: message)
            }
        }
        if let clientName = self.configuration.clientName {
            // A name is a convenience; a proxy that refuses CLIENT must not stop the connection.
            _ = try await send(RedisCommand("CLIENT SETNAME", clientName))
        }
        let pong = try await send(RedisCommand("PING"))
        if let message = pong.errorMessage {
            throw self.refusal(of: "PING", code: Self.errorCode(message), message: message)
        }
        guard case .simpleString = pong, pong.string == "PONG" else {
            throw self.notRedis("PING")
        }
        return Outcome(protocolVersion: 2, serverVersion: nil)
    }

    private func parseHello(_ reply: RESPValue) throws(ToozError) -> Outcome {
        var fields: [String: RESPValue] = [:]
        switch reply {
        case .map(let entries):
            for entry in entries {
                if let key = entry.key.string { fields[key] = entry.value }
            }
        case .array(.some(let elements)) where elements.count.isMultiple(of: 2):
            // A server that answers HELLO in RESP2 flattens the map into pairs.
            for pair in stride(from: 0, to: elements.count, by: 2) {
                if let key = elements[pair].string { fields[key] = elements[pair + 1] }
            }
        default:
            throw self.notRedis("HELLO")
        }
        guard case .integer(let proto) = fields["proto"], proto == 2 || proto == 3 else {
            throw self.notRedis("HELLO")
        }
        return Outcome(protocolVersion: Int(proto), serverVersion: fields["version"]?.string)
    }

    private func refusal(of command: String, code: String, message: String) -> ToozError {
        switch code {
        case "WRONGPASS", "NOPERM":
            return ToozError(
                .connectionFailed,
                "authentication failed at the Redis server at \(self.endpoint)\(self.asUser): \(self.redacted(message))"
            )
        case "NOAUTH" where self.configuration.password == nil:
            return ToozError(
                .connectionFailed,
                "authentication failed: the Redis server at \(self.endpoint) requires a password and none is configured"
            )
        case "NOAUTH":
            return ToozError(
                .connectionFailed,
                "authentication failed at the Redis server at \(self.endpoint)\(self.asUser): \(self.redacted(message))"
            )
        default:
            if command == "AUTH" {
                // Redis 5 and older: "ERR invalid password", "ERR Client sent AUTH, but no password is set".
                return ToozError(
                    .connectionFailed,
                    "authentication failed at the Redis server at \(self.endpoint)\(self.asUser): \(self.redacted(message))"
                )
            }
            return ToozError(.connectionFailed, "the Redis server at \(self.endpoint) refused \(command): \(self.redacted(message))")
        }
    }

    private var asUser: String {
        self.configuration.username.map { " as user \($0.debugDescription)" } ?? ""
    }

    private func notRedis(_ command: String) -> ToozError {
        ToozError(.connectionFailed, "the server at \(self.endpoint) did not answer \(command) like a Redis server")
    }

    /// The server's error text without the password in it, and not overly long.
    private func redacted(_ message: String) -> String {
        var text = message
        if let password = self.configuration.password, !password.isEmpty {
            text = text.replacingOccurrences(of: password, with: "<redacted>")
        }
        if text.count > 300 { text = String(text.prefix(300)) + "…" }
        return text
    }

    /// The first word of an error reply (`WRONGPASS`, `NOAUTH`, `ERR`).
    private static func errorCode(_ message: String) -> String {
        String(message.prefix { $0 != " " }).uppercased()
    }
}

extension String {
    /// `replacingOccurrences(of:with:)` without Foundation.
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
