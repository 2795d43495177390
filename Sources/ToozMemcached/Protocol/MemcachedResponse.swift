/// One reply of memcached's meta protocol, with the return flags this client asks for.
///
/// Error lines (`SERVER_ERROR`, `CLIENT_ERROR`, `ERROR`) are decoded into ``Status`` too, so that
/// the decoder stays in step; ``MemcachedConnection`` turns them into a `ToozError` for the one
/// request they answer, and callers never see them.
package struct MemcachedResponse: Sendable, Hashable {
    /// What the server said, from the reply's first word.
    package enum Status: Sendable, Hashable {
        /// `HD`: done (stored, deleted, touched; or found, for a get without a value).
        case stored
        /// `VA`: found, with a value.
        case value
        /// `NF`: not found (delete, increment, a CAS store on a missing key).
        case notFound
        /// `NS`: not stored, because the store mode's condition failed.
        case notStored
        /// `EX`: the CAS token did not match.
        case exists
        /// `EN`: a get missed.
        case miss
        /// `MN`: the answer to `mn`.
        case noop
        /// `SERVER_ERROR <message>`: the server failed (out of memory, object too large).
        case serverError(String)
        /// `CLIENT_ERROR <message>`: the server refused the command as malformed.
        case clientError(String)
        /// `ERROR`: the server does not know the command.
        case error
    }

    package var status: Status
    /// The value of a `VA` reply.
    package var value: [UInt8]?
    /// The client flags (`f`).
    package var clientFlags: UInt32?
    /// The CAS token (`c`).
    package var cas: UInt64?
    /// The remaining TTL in seconds (`t`); -1 when the item never expires.
    package var ttl: Int?

    package init(
        _ status: Status,
        value: [UInt8]? = nil,
        clientFlags: UInt32? = nil,
        cas: UInt64? = nil,
        ttl: Int? = nil
    ) {
        self.status = status
        self.value = value
        self.clientFlags = clientFlags
        self.cas = cas
        self.ttl = ttl
    }

    /// The server's complaint, when the reply is an error line.
    package var errorMessage: String? {
        switch self.status {
        case .serverError(let message): "SERVER_ERROR \(message)"
        case .clientError(let message): "CLIENT_ERROR \(message)"
        case .error: "ERROR (unknown command)"
        default: nil
        }
    }
}
