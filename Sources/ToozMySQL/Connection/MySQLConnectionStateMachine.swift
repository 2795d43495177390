import NIOCore

/// The protocol logic of one MySQL connection, free of I/O: the login, then commands and their
/// replies.
///
/// Events (a decoded packet, a command to send, a failure, the channel going away) come in as
/// mutating methods; what to do comes back as an ``Action`` for ``MySQLConnectionHandler`` to
/// carry out. Writes come back as framed bytes, so tests compare them with byte fixtures.
///
/// The login: Handshake v10 → (SSLRequest, TLS) → HandshakeResponse41 → any number of
/// AuthSwitchRequest / AuthMoreData rounds → OK, or ERR.
///
/// Commands may be pipelined: the server answers them in order, so pending commands are a FIFO
/// and each reply completes the oldest. A `COM_QUERY` reply is one or more results (an OK, or a
/// result set: column count, definitions, [EOF], rows, EOF or OK), continuing while
/// `SERVER_MORE_RESULTS_EXISTS` is set; an ERR ends it. A command whose caller gave up (timed
/// out, cancelled) stays queued and its reply is read and dropped by the caller's `Slot`.
package struct MySQLConnectionStateMachine<Slot> {
    /// What the login needs.
    package struct Settings: Sendable {
        package var username: String
        package var password: String?
        package var database: String?
        /// TLS policy; `.disabled` for a unix socket.
        package var tlsMode: MySQLTLSConfiguration.Mode
        /// A unix socket: secure enough for cleartext passwords, never TLS.
        package var isUnixSocket: Bool

        package init(username: String, password: String?, database: String?, tlsMode: MySQLTLSConfiguration.Mode, isUnixSocket: Bool) {
            self.username = username
            self.password = password
            self.database = database
            self.tlsMode = isUnixSocket ? .disabled : tlsMode
            self.isUnixSocket = isUnixSocket
        }
    }

    /// A command to send.
    package enum Command: Sendable, Hashable {
        /// `COM_QUERY`: SQL text, possibly several statements.
        case query(String)
        /// `COM_PING`.
        case ping
    }

    /// A slot to fail, with the reason.
    package struct Failure {
        package var slot: Slot
        package var error: MySQLConnectionError
    }

    package enum Action {
        case none
        /// Write and flush these bytes.
        case write(ByteBuffer)
        /// Write and flush the SSLRequest, put TLS in the pipeline, then write the handshake response.
        case writeSSLRequestThenStartTLS(sslRequest: ByteBuffer, handshakeResponse: ByteBuffer)
        /// The login succeeded.
        case connected(MySQLHandshake)
        /// The command of this slot is answered.
        case succeed(Slot, [MySQLResult])
        /// The server refused the command of this slot; the connection stays usable.
        case fail(Slot, MySQLConnectionError)
        /// Fail the login (if it was under way) and these commands, then close the channel
        /// (unless it is closing already).
        case failAndClose(connect: MySQLConnectionError?, commands: [Failure])
    }

    package enum SendAction {
        /// Write and flush these bytes.
        case write(ByteBuffer)
        /// Do not write; fail the command.
        case fail(MySQLConnectionError)
    }

    private enum State {
        case awaitingHandshake
        /// Logging in with `plugin`; `nonce` is its latest plugin data.
        case authenticating(handshake: MySQLHandshake, plugin: String, nonce: [UInt8], secure: Bool)
        case ready
        /// Failed everything and asked to close; waiting for the channel to go.
        case closing
        case closed
    }

    /// Where the oldest command's reply is.
    private enum Reply {
        /// The next packet starts a result: OK, ERR, or a column count.
        case resultStart
        /// Reading `count` column definitions.
        case columns(count: Int, received: [MySQLColumn])
        /// The column definitions are complete; the classic EOF follows.
        case columnsEOF([MySQLColumn])
        /// Reading rows until EOF (or the OK that replaces it).
        case rows([MySQLColumn], [MySQLRow])
    }

    private struct Pending {
        var slot: Slot
        /// The sequence id of the reply's first packet: one past the command's last.
        var firstReplySequenceID: UInt8
    }

    private let settings: Settings
    private var state: State = .awaitingHandshake
    private var capabilities: MySQLCapabilities = []
    /// The sequence id the next packet must have; `nil` between replies (the next reply
    /// starts at its command's ``Pending/firstReplySequenceID``).
    private var expectedSequenceID: UInt8? = 0
    private var pending = CircularBuffer<Pending>()
    private var reply: Reply = .resultStart
    /// The results of the oldest command so far.
    private var results: [MySQLResult] = []
    /// Why the connection closed, when it was an error: later commands report it.
    private var closeCause: (any Error)?

    package init(settings: Settings) {
        self.settings = settings
    }

    /// The capabilities both sides agreed on (empty before the handshake).
    package var negotiatedCapabilities: MySQLCapabilities { self.capabilities }

    /// How many commands wait for their reply.
    package var pendingCount: Int { self.pending.count }

    /// Whether commands can be sent.
    package var isReady: Bool {
        if case .ready = self.state { return true }
        return false
    }

    // MARK: - Sending

    /// Queues `command`, about to be written.
    package mutating func send(_ command: Command, slot: Slot) -> SendAction {
        guard case .ready = self.state else {
            return .fail(.notSent(self.closeCause))
        }
        var payload = ByteBuffer()
        switch command {
        case .query(let sql):
            payload.reserveCapacity(sql.utf8.count + 1)
            payload.writeInteger(MySQLProtocol.commandQuery)
            payload.writeString(sql)
        case .ping:
            payload.writeInteger(MySQLProtocol.commandPing)
        }
        let (bytes, next) = MySQLPacketEncoder.frame(payload, sequenceID: 0)
        self.pending.append(Pending(slot: slot, firstReplySequenceID: next))
        return .write(bytes)
    }

    /// `COM_QUIT`, to write before closing; `nil` when the connection is not logged in.
    package func quit() -> ByteBuffer? {
        guard case .ready = self.state else { return nil }
        var payload = ByteBuffer()
        payload.writeInteger(MySQLProtocol.commandQuit)
        return MySQLPacketEncoder.frame(payload, sequenceID: 0).bytes
    }

    // MARK: - Receiving

    /// Handles one decoded packet.
    package mutating func receive(_ packet: MySQLPacket) -> Action {
        do {
            return try self.receiveOrThrow(packet)
        } catch {
            return self.decodingFailed(error)
        }
    }

    private mutating func receiveOrThrow(_ packet: MySQLPacket) throws(MySQLDecodingError) -> Action {
        switch self.state {
        case .closing, .closed:
            return .none
        case .ready where self.pending.isEmpty:
            // Nothing was asked: MySQL ≥ 8.0.24 says why it hangs up (ER_CLIENT_INTERACTION_TIMEOUT).
            if packet.header == MySQLProtocol.errHeader {
                let error = try MySQLServerError(parsing: packet.payload)
                return self.failAllAndClose(cause: error) { _ in .connectionLost(error) }
            }
            throw MySQLDecodingError(.unexpectedPacket, "a packet of \(packet.payload.readableBytes) bytes arrived while no command waited")
        default:
            break
        }
        let expected = self.expectedSequenceID ?? self.pending.first?.firstReplySequenceID ?? 0
        guard packet.firstSequenceID == expected else {
            throw MySQLDecodingError(.wrongSequence, "a packet has sequence id \(packet.firstSequenceID), expected \(expected)")
        }
        self.expectedSequenceID = packet.lastSequenceID &+ 1

        switch self.state {
        case .awaitingHandshake:
            return try self.receiveHandshake(packet)
        case .authenticating(let handshake, let plugin, let nonce, let secure):
            return try self.receiveAuthentication(packet, handshake: handshake, plugin: plugin, nonce: nonce, secure: secure)
        case .ready:
            return try self.receiveReply(packet)
        case .closing, .closed:
            return .none
        }
    }

    // MARK: Login

    private mutating func receiveHandshake(_ packet: MySQLPacket) throws(MySQLDecodingError) -> Action {
        if packet.header == MySQLProtocol.errHeader {
            // Refused before the login (too many connections, a blocked host).
            return self.failLogin(.server(try MySQLServerError(parsing: packet.payload)))
        }
        let handshake = try MySQLHandshake(parsing: packet.payload)
        let server = handshake.capabilities
        guard server.isSuperset(of: [.protocol41, .secureConnection]) else {
            return self.failLogin(.unsupported("the server \(handshake.serverVersion) is older than MySQL 4.1 (no CLIENT_PROTOCOL_41)"))
        }
        var client: MySQLCapabilities = [
            .longPassword, .longFlag, .protocol41, .secureConnection, .transactions, .multiStatements, .multiResults,
            .pluginAuth, .pluginAuthLengthEncodedClientData, .deprecateEOF,
        ]
        client.formIntersection(server)
        client.insert([.protocol41, .secureConnection])
        if let database = self.settings.database, !database.isEmpty, server.contains(.connectWithDB) {
            client.insert(.connectWithDB)
        }
        let useTLS: Bool
        switch self.settings.tlsMode {
        case .disabled:
            useTLS = false
        case .preferred:
            useTLS = server.contains(.ssl)
        case .required:
            guard server.contains(.ssl) else {
                return self.failLogin(.unsupported("TLS is required (ssl_mode=required or ssl_* options) but the server does not offer it"))
            }
            useTLS = true
        }
        if useTLS { client.insert(.ssl) }
        self.capabilities = client

        let secure = useTLS || self.settings.isUnixSocket
        var plugin = MySQLAuthentication.nativePassword
        if client.contains(.pluginAuth), let offered = handshake.authPluginName, offered == MySQLAuthentication.cachingSHA2Password {
            plugin = offered
        }
        let authResponse: [UInt8]
        do {
            authResponse = try MySQLAuthentication.response(plugin: plugin, password: self.settings.password, nonce: handshake.authPluginData, secureTransport: secure)
        } catch {
            return self.failLogin(.unsupported(error.message))
        }
        let response = MySQLHandshakeResponse(
            capabilities: client,
            username: self.settings.username,
            authResponse: authResponse,
            database: self.settings.database,
            authPluginName: plugin
        )
        self.state = .authenticating(handshake: handshake, plugin: plugin, nonce: handshake.authPluginData, secure: secure)
        var sequenceID = packet.lastSequenceID &+ 1
        if useTLS {
            let (sslRequest, next) = MySQLPacketEncoder.frame(response.encodeSSLRequest(), sequenceID: sequenceID)
            sequenceID = next
            let (bytes, after) = MySQLPacketEncoder.frame(response.encode(), sequenceID: sequenceID)
            self.expectedSequenceID = after
            return .writeSSLRequestThenStartTLS(sslRequest: sslRequest, handshakeResponse: bytes)
        }
        let (bytes, after) = MySQLPacketEncoder.frame(response.encode(), sequenceID: sequenceID)
        self.expectedSequenceID = after
        return .write(bytes)
    }

    private mutating func receiveAuthentication(
        _ packet: MySQLPacket,
        handshake: MySQLHandshake,
        plugin: String,
        nonce: [UInt8],
        secure: Bool
    ) throws(MySQLDecodingError) -> Action {
        switch packet.header {
        case MySQLProtocol.okHeader:
            let ok = try MySQLOK(parsing: packet.payload)
            var handshake = handshake
            handshake.statusFlags = ok.statusFlags
            self.state = .ready
            self.expectedSequenceID = nil
            return .connected(handshake)
        case MySQLProtocol.errHeader:
            return self.failLogin(.server(try MySQLServerError(parsing: packet.payload)))
        case MySQLProtocol.eofHeader:
            let request = try MySQLAuthSwitchRequest(parsing: packet.payload)
            let response: [UInt8]
            do {
                response = try MySQLAuthentication.response(
                    plugin: request.pluginName, password: self.settings.password, nonce: request.pluginData, secureTransport: secure
                )
            } catch {
                return self.failLogin(.unsupported(error.message))
            }
            self.state = .authenticating(handshake: handshake, plugin: request.pluginName, nonce: request.pluginData, secure: secure)
            return self.writeAuthData(response, after: packet)
        case MySQLProtocol.authMoreDataHeader:
            guard plugin == MySQLAuthentication.cachingSHA2Password else {
                return self.failLogin(.unsupported("the authentication plugin \(plugin) asks for more data, which is not supported"))
            }
            var payload = packet.payload
            payload.moveReaderIndex(forwardBy: 1)
            switch payload.readInteger(as: UInt8.self) {
            case MySQLAuthentication.fastAuthSuccess:
                // The OK follows.
                return .none
            case MySQLAuthentication.performFullAuthentication:
                let response: [UInt8]
                do {
                    response = try MySQLAuthentication.cachingSHA2FullAuthentication(password: self.settings.password, secureTransport: secure)
                } catch {
                    return self.failLogin(.unsupported(error.message))
                }
                return self.writeAuthData(response, after: packet)
            default:
                throw MySQLDecodingError(.malformed, "caching_sha2_password sent more data that is neither 0x03 nor 0x04")
            }
        default:
            throw MySQLDecodingError(
                .unexpectedPacket,
                "a packet starting with 0x\(String(packet.header ?? 0, radix: 16)) arrived during authentication"
            )
        }
    }

    private mutating func writeAuthData(_ data: [UInt8], after packet: MySQLPacket) -> Action {
        let (bytes, next) = MySQLPacketEncoder.frame(ByteBuffer(bytes: data), sequenceID: packet.lastSequenceID &+ 1)
        self.expectedSequenceID = next
        return .write(bytes)
    }

    private mutating func failLogin(_ error: MySQLConnectionError) -> Action {
        self.closeCause = error
        return self.failAllAndClose(cause: error, connect: error) { _ in error }
    }

    // MARK: Replies

    private mutating func receiveReply(_ packet: MySQLPacket) throws(MySQLDecodingError) -> Action {
        if packet.header == MySQLProtocol.errHeader {
            // An ERR ends the command, whatever came before (an earlier statement's results are dropped).
            let error = try MySQLServerError(parsing: packet.payload)
            return self.finishCommand { slot in .fail(slot, .server(error)) }
        }
        switch self.reply {
        case .resultStart:
            switch packet.header {
            case MySQLProtocol.okHeader:
                let ok = try MySQLOK(parsing: packet.payload)
                self.results.append(.ok(ok))
                return self.endResult(moreResults: ok.moreResultsExist)
            case MySQLProtocol.localInfileHeader:
                throw MySQLDecodingError(.unexpectedPacket, "the server asks for a LOCAL INFILE, which the client never allows")
            case MySQLProtocol.eofHeader:
                throw MySQLDecodingError(.unexpectedPacket, "an EOF packet arrived where a result starts")
            default:
                var payload = packet.payload
                let count = try payload.mysqlReadLengthEncodedInteger("the column count")
                guard payload.readableBytes == 0, count > 0, count <= 4096 else {
                    throw MySQLDecodingError(.malformed, "a column count packet of \(packet.payload.readableBytes) bytes (count \(count))")
                }
                self.reply = .columns(count: Int(count), received: [])
                return .none
            }
        case .columns(let count, var received):
            self.reply = .resultStart  // avoid a copy of `received` while it grows
            received.append(try MySQLColumn(parsing: packet.payload))
            if received.count < count {
                self.reply = .columns(count: count, received: received)
            } else if self.capabilities.contains(.deprecateEOF) {
                self.reply = .rows(received, [])
            } else {
                self.reply = .columnsEOF(received)
            }
            return .none
        case .columnsEOF(let columns):
            _ = try MySQLEOF(parsing: packet.payload)
            self.reply = .rows(columns, [])
            return .none
        case .rows(let columns, var rows):
            // A row may start with 0xFE only as the 8-byte length of a value of 16 MiB or more,
            // so a shorter 0xFE packet ends the rows: a classic EOF, or the OK that replaces it.
            let payloadLength = packet.payload.readableBytes
            let deprecateEOF = self.capabilities.contains(.deprecateEOF)
            if packet.header == MySQLProtocol.eofHeader, payloadLength < (deprecateEOF ? MySQLProtocol.maximumPacketPayload : 9) {
                let moreResults =
                    deprecateEOF
                    ? try MySQLOK(parsing: packet.payload).moreResultsExist : try MySQLEOF(parsing: packet.payload).moreResultsExist
                self.results.append(.rows(MySQLResultSet(columns: columns, rows: rows)))
                return self.endResult(moreResults: moreResults)
            }
            self.reply = .resultStart
            rows.append(try MySQLRow(parsing: packet.payload, columnCount: columns.count))
            self.reply = .rows(columns, rows)
            return .none
        }
    }

    /// One result ended; the command ends unless `SERVER_MORE_RESULTS_EXISTS` said more follow.
    private mutating func endResult(moreResults: Bool) -> Action {
        if moreResults {
            self.reply = .resultStart
            return .none
        }
        let results = self.results
        return self.finishCommand { slot in .succeed(slot, results) }
    }

    private mutating func finishCommand(_ action: (Slot) -> Action) -> Action {
        self.reply = .resultStart
        self.results = []
        self.expectedSequenceID = nil
        guard let head = self.pending.popFirst() else { return .none }
        return action(head.slot)
    }

    // MARK: - Failures and closing

    /// The server's bytes cannot be decoded: the stream cannot be resynchronised.
    package mutating func decodingFailed(_ error: any Error) -> Action {
        let decoding = error as? MySQLDecodingError ?? MySQLDecodingError(.malformed, "\(error)")
        let failure = MySQLConnectionError.garbled(decoding)
        return self.failAllAndClose(cause: decoding, connect: self.isLoggingIn ? failure : nil) { _ in failure }
    }

    /// The channel reported an error (I/O, TLS).
    package mutating func errorCaught(_ error: any Error) -> Action {
        if let decoding = error as? MySQLDecodingError { return self.decodingFailed(decoding) }
        let failure = MySQLConnectionError.connectionLost(error)
        return self.failAllAndClose(cause: error, connect: self.isLoggingIn ? failure : nil) { _ in failure }
    }

    /// The owner closes the channel: fail what waits (the channel closes anyway).
    package mutating func closeRequested() -> Action {
        let failure = MySQLConnectionError.connectionLost(nil)
        return self.failAllAndClose(cause: nil, connect: self.isLoggingIn ? failure : nil) { _ in failure }
    }

    /// The channel is gone (closed by either side): fail what waits.
    package mutating func channelInactive() -> Action {
        switch self.state {
        case .closed:
            return .none
        case .closing:
            self.state = .closed
            return .none
        case .awaitingHandshake, .authenticating, .ready:
            let failure = MySQLConnectionError.connectionLost(self.closeCause)
            let action = self.failAllAndClose(cause: nil, connect: self.isLoggingIn ? failure : nil) { _ in failure }
            self.state = .closed
            return action
        }
    }

    private var isLoggingIn: Bool {
        switch self.state {
        case .awaitingHandshake, .authenticating: true
        case .ready, .closing, .closed: false
        }
    }

    private mutating func failAllAndClose(
        cause: (any Error)?,
        connect: MySQLConnectionError? = nil,
        _ error: (Pending) -> MySQLConnectionError
    ) -> Action {
        switch self.state {
        case .closing, .closed:
            return .none
        case .awaitingHandshake, .authenticating, .ready:
            break
        }
        if let cause, self.closeCause == nil { self.closeCause = cause }
        self.state = .closing
        self.reply = .resultStart
        self.results = []
        var failures: [Failure] = []
        failures.reserveCapacity(self.pending.count)
        while let pending = self.pending.popFirst() {
            failures.append(Failure(slot: pending.slot, error: error(pending)))
        }
        return .failAndClose(connect: connect, commands: failures)
    }
}
