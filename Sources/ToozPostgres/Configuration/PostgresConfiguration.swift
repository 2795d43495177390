import Tooz

/// Everything the `postgresql://` backend needs to reach its server, and how it lays out its
/// data there.
///
/// Built from a tooz URL by ``PostgresConfiguration/make(url:)``. The password is kept here
/// and nowhere else; nothing that prints a configuration prints it.
package struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// Where the server listens.
    package enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        /// A unix socket file (`<directory>/.s.PGSQL.<port>`).
        case unixSocket(path: String)
    }

    package var endpoint: Endpoint
    package var username: String
    package var password: String?
    /// The database; `nil` is the server's default (the user's name).
    package var database: String?
    package var tls: PostgresTLSConfiguration
    /// The schema that holds our tables (created on first use).
    package var schema: String
    /// Which advisory keys named locks take.
    package var lockKeys: PostgresLockKeyStyle
    /// How long connecting may take.
    package var connectTimeout: Duration
    /// How long one statement may take before its connection is closed (a frozen server, a
    /// half-open connection). Blocking lock waits get their own deadline on top of it.
    package var statementTimeout: Duration

    package init(
        endpoint: Endpoint, username: String, password: String? = nil, database: String? = nil,
        tls: PostgresTLSConfiguration = PostgresTLSConfiguration(), schema: String = "tooz",
        lockKeys: PostgresLockKeyStyle = .tooz, connectTimeout: Duration = .seconds(10), statementTimeout: Duration = .seconds(10)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.schema = schema
        self.lockKeys = lockKeys
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
    }

    /// The server and database, never the password.
    package var description: String {
        let place: String =
            switch endpoint {
            case .tcp(let host, let port): "\(host):\(port)"
            case .unixSocket(let path): path
            }
        return "\(username)@\(place)/\(database ?? username)"
    }
}

/// Which advisory lock keys named locks take.
package enum PostgresLockKeyStyle: String, Sendable, Hashable {
    /// tooz 9.1.0's: bytes 0 and 1 of the name's MD5 as the two-int4 key, so Python tooz and
    /// swift-tooz exclude each other; only 65,536 distinct keys, so unrelated names can share one.
    case tooz
    /// The name's first 8 MD5 bytes as one int8 key: no practical collisions, but Python tooz
    /// does not see these locks.
    case bigint
}
