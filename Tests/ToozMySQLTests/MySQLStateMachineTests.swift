import NIOCore
import Testing
import ToozMySQL

@Suite("MySQL connection state machine")
struct MySQLStateMachineTests {
    typealias Machine = MySQLConnectionStateMachine<Int>

    static func machine(
        password: String? = "tooz-secret",
        database: String? = "tooz",
        tls: MySQLTLSConfiguration.Mode = .disabled,
        unixSocket: Bool = false
    ) -> Machine {
        Machine(settings: .init(username: "tooz", password: password, database: database, tlsMode: tls, isUnixSocket: unixSocket))
    }

    /// The physical packets of bytes the client wrote: (sequence id, payload).
    static func frames(_ bytes: ByteBuffer) -> [(UInt8, [UInt8])] {
        var bytes = bytes
        var frames: [(UInt8, [UInt8])] = []
        while let (low, high, sequenceID) = bytes.readMultipleIntegers(endianness: .little, as: (UInt16, UInt8, UInt8).self) {
            frames.append((sequenceID, bytes.readBytes(length: Int(low) | Int(high) << 16) ?? []))
        }
        return frames
    }

    static func written(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) -> [(UInt8, [UInt8])] {
        guard case .write(let bytes) = action else {
            Issue.record("expected a write, got \(action)", sourceLocation: sourceLocation)
            return []
        }
        return frames(bytes)
    }

    static func loginFailure(_ action: Machine.Action) -> MySQLConnectionError? {
        guard case .failAndClose(let connect?, _) = action else { return nil }
        return connect
    }

    static func serverError(_ error: MySQLConnectionError?) -> MySQLServerError? {
        guard case .server(let server) = error else { return nil }
        return server
    }

    static func isGarbled(_ error: MySQLConnectionError?) -> Bool {
        if case .garbled = error { return true }
        return false
    }

    /// Logs in with mysql_native_password; returns the machine ready.
    static func ready(deprecateEOF: Bool = true) -> Machine {
        var machine = machine()
        let capabilities = MySQLFixtures.serverCapabilities(deprecateEOF: deprecateEOF)
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(capabilities: capabilities), 0))
        guard case .connected = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 2)) else {
            Issue.record("login failed")
            return machine
        }
        return machine
    }

    static func results(_ action: Machine.Action) -> (Int, [MySQLResult])? {
        guard case .succeed(let slot, let results) = action else { return nil }
        return (slot, results)
    }

    // MARK: - Login

    @Test func logsInWithNativePassword() throws {
        var machine = Self.machine()
        let frames = Self.written(machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0)))
        try #require(frames.count == 1)
        #expect(frames[0].0 == 1)
        var payload = ByteBuffer(bytes: frames[0].1)
        let capabilities = MySQLCapabilities(rawValue: payload.readInteger(endianness: .little)!)
        #expect(capabilities.isSuperset(of: [.protocol41, .secureConnection, .pluginAuth, .connectWithDB, .multiStatements, .multiResults, .deprecateEOF]))
        #expect(!capabilities.contains(.ssl))
        #expect(!capabilities.contains(.longPassword), "MariaDB does not offer bit 0")
        payload.moveReaderIndex(forwardBy: 4)
        #expect(payload.readInteger(as: UInt8.self) == 45)
        payload.moveReaderIndex(forwardBy: 23)
        #expect(payload.readNullTerminatedString() == "tooz")
        #expect(payload.readInteger(as: UInt8.self) == 20)
        #expect(payload.readBytes(length: 20) == MySQLAuthentication.nativePasswordScramble(password: Array("tooz-secret".utf8), nonce: MySQLFixtures.nonce))
        #expect(payload.readNullTerminatedString() == "tooz")
        #expect(payload.readNullTerminatedString() == "mysql_native_password")
        #expect(payload.readableBytes == 0)

        guard case .connected(let handshake) = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 2)) else {
            Issue.record("not connected")
            return
        }
        #expect(handshake.connectionID == 42)
        #expect(machine.isReady)
    }

    @Test func withoutADatabaseNoConnectWithDB() throws {
        var machine = Self.machine(database: nil)
        let frames = Self.written(machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0)))
        var payload = ByteBuffer(bytes: try #require(frames.first).1)
        let capabilities = MySQLCapabilities(rawValue: payload.readInteger(endianness: .little)!)
        #expect(!capabilities.contains(.connectWithDB))
    }

    @Test func tlsSendsSSLRequestThenTheResponseWithTheNextSequenceID() throws {
        var machine = Self.machine(tls: .preferred)
        let action = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(capabilities: MySQLFixtures.serverCapabilities(ssl: true)), 0))
        guard case .writeSSLRequestThenStartTLS(let sslRequest, let response) = action else {
            Issue.record("expected TLS, got \(action)")
            return
        }
        let request = Self.frames(sslRequest)
        let login = Self.frames(response)
        #expect(request.count == 1 && request[0].0 == 1 && request[0].1.count == 32)
        #expect(login.count == 1 && login[0].0 == 2)
        #expect(Array(request[0].1) == Array(login[0].1.prefix(32)))
        #expect(MySQLCapabilities(rawValue: ByteBuffer(bytes: request[0].1).getInteger(at: 0, endianness: .little)!).contains(.ssl))
        guard case .connected = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 3)) else {
            Issue.record("not connected")
            return
        }
    }

    @Test func preferredTLSFallsBackToPlain() {
        var machine = Self.machine(tls: .preferred)
        #expect(Self.written(machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))).first?.0 == 1)
    }

    @Test func requiredTLSFailsWhenNotOffered() {
        var machine = Self.machine(tls: .required)
        let error = Self.loginFailure(machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0)))
        guard case .unsupported(let message) = error else {
            Issue.record("expected unsupported, got \(String(describing: error))")
            return
        }
        #expect(message.contains("TLS"))
    }

    @Test func switchesToCachingSHA2AndTakesTheFastPath() {
        var machine = Self.machine()
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
        let switchRequest = ByteBuffer(bytes: [0xFE] + Array("caching_sha2_password".utf8) + [0] + MySQLFixtures.nonce.reversed() + [0])
        let frames = Self.written(machine.receive(MySQLFixtures.packet(switchRequest, 2)))
        #expect(frames.count == 1)
        #expect(frames.first?.0 == 3)
        #expect(frames.first?.1 == MySQLAuthentication.cachingSHA2Scramble(password: Array("tooz-secret".utf8), nonce: MySQLFixtures.nonce.reversed()))
        guard case .none = machine.receive(MySQLFixtures.packet(ByteBuffer(bytes: [0x01, 0x03]), 4)) else {
            Issue.record("fast auth success must wait for the OK")
            return
        }
        guard case .connected = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 5)) else {
            Issue.record("not connected")
            return
        }
    }

    @Test func cachingSHA2FullAuthenticationNeedsASecureTransport() {
        var machine = Self.machine()
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(plugin: "caching_sha2_password"), 0))
        let error = Self.loginFailure(machine.receive(MySQLFixtures.packet(ByteBuffer(bytes: [0x01, 0x04]), 2)))
        guard case .unsupported(let message) = error else {
            Issue.record("expected unsupported, got \(String(describing: error))")
            return
        }
        #expect(message.contains("caching_sha2_password full authentication needs TLS"))
        #expect(!message.contains("tooz-secret"))

        var overSocket = Self.machine(unixSocket: true)
        _ = overSocket.receive(MySQLFixtures.packet(MySQLFixtures.handshake(plugin: "caching_sha2_password"), 0))
        let frames = Self.written(overSocket.receive(MySQLFixtures.packet(ByteBuffer(bytes: [0x01, 0x04]), 2)))
        #expect(frames.first?.0 == 3)
        #expect(frames.first?.1 == Array("tooz-secret".utf8) + [0])
    }

    @Test func ed25519IsRefusedByName() {
        var machine = Self.machine()
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
        let switchRequest = ByteBuffer(bytes: [0xFE] + Array("client_ed25519".utf8) + [0] + Array(repeating: 7, count: 32))
        guard case .unsupported(let message) = Self.loginFailure(machine.receive(MySQLFixtures.packet(switchRequest, 2))) else {
            Issue.record("expected unsupported")
            return
        }
        #expect(message.contains("client_ed25519"))
    }

    @Test func accessDeniedAndUnknownDatabaseFailTheLogin() {
        for (code, state, message) in [
            (UInt16(1045), "28000", "Access denied for user 'tooz'@'localhost' (using password: YES)"),
            (1049, "42000", "Unknown database 'nope'"),
        ] {
            var machine = Self.machine()
            _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
            let error = Self.loginFailure(machine.receive(MySQLFixtures.packet(MySQLFixtures.err(code: code, state: state, message: message), 2)))
            #expect(Self.serverError(error) == MySQLServerError(code: code, sqlState: state, message: message))
        }
    }

    @Test func anERRInsteadOfTheHandshakeFailsTheLogin() {
        var machine = Self.machine()
        let error = Self.loginFailure(machine.receive(MySQLFixtures.packet(MySQLFixtures.err(code: 1040, state: nil, message: "Too many connections"), 0)))
        #expect(Self.serverError(error)?.code == 1040)
    }

    @Test func aWrongSequenceIDIsGarbled() {
        var machine = Self.machine()
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
        #expect(Self.isGarbled(Self.loginFailure(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 5)))))

        var ready = Self.ready()
        _ = ready.send(.ping, slot: 1)
        guard case .failAndClose(nil, let failures) = ready.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 2)) else {
            Issue.record("expected failAndClose")
            return
        }
        #expect(failures.count == 1 && Self.isGarbled(failures.first?.error))
    }

    @Test func unexpectedPacketsDuringLoginAreGarbled() {
        for payload in [ByteBuffer(bytes: [0x03, 0x64, 0x65, 0x66]), ByteBuffer(), ByteBuffer(bytes: [0x01, 0x03])] {
            var machine = Self.machine()
            _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
            let error = Self.loginFailure(machine.receive(MySQLFixtures.packet(payload, 2)))
            #expect(error != nil, "\(Array(payload.readableBytesView))")
        }
    }

    @Test func truncatedHandshakesFailTheLoginAtEveryCut() {
        let handshake = MySQLFixtures.handshake()
        // Pre-4.1 handshakes end right after the lower capability flags: that cut is a login.
        let oldHandshakeEnd = 1 + "5.5.5-10.11.6-MariaDB".utf8.count + 1 + 4 + 8 + 1 + 2
        for cut in 0..<handshake.readableBytes where cut != oldHandshakeEnd {
            var machine = Self.machine()
            let action = machine.receive(MySQLFixtures.packet(handshake.getSlice(at: 0, length: cut)!, 0))
            #expect(Self.loginFailure(action) != nil, "cut at \(cut)")
        }
    }

    // MARK: - Commands

    @Test func aQueryAnsweredByOK() throws {
        var machine = Self.ready()
        let frames = Self.written({
            guard case .write(let bytes) = machine.send(.query("DO 1"), slot: 7) else { return .none }
            return .write(bytes)
        }())
        #expect(frames.count == 1 && frames[0].0 == 0 && frames[0].1 == [0x03] + Array("DO 1".utf8))
        let (slot, results) = try #require(Self.results(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(affectedRows: 1), 1))))
        #expect(slot == 7)
        #expect(results == [.ok(MySQLOK(affectedRows: 1, statusFlags: 2))])
    }

    @Test func aResultSetWithClassicEOF() throws {
        var machine = Self.ready(deprecateEOF: false)
        _ = machine.send(.query("SELECT"), slot: 1)
        var sequenceID: UInt8 = 1
        func receive(_ payload: ByteBuffer) -> Machine.Action {
            defer { sequenceID += 1 }
            return machine.receive(MySQLFixtures.packet(payload, sequenceID))
        }
        _ = receive(ByteBuffer(bytes: [2]))
        _ = receive(MySQLFixtures.column("a"))
        _ = receive(MySQLFixtures.column("b", type: 0x08))
        _ = receive(MySQLFixtures.eof())
        _ = receive(MySQLFixtures.row(["x", nil]))
        _ = receive(MySQLFixtures.row(["", "12"]))
        let (_, results) = try #require(Self.results(receive(MySQLFixtures.eof())))
        let set = try #require(results.lastRows)
        #expect(results.count == 1)
        #expect(set.columns.map(\.name) == ["a", "b"])
        #expect(set.columns[1].type == 0x08)
        #expect(set.rows == [MySQLRow(values: [[0x78], nil]), MySQLRow(values: [[], [0x31, 0x32]])])
    }

    @Test func aResultSetUnderDeprecateEOFEndsWithAnOK() throws {
        var machine = Self.ready(deprecateEOF: true)
        _ = machine.send(.query("SELECT"), slot: 1)
        _ = machine.receive(MySQLFixtures.packet(ByteBuffer(bytes: [1]), 1))
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.column("a"), 2))
        // No EOF after the columns: this is a row.
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.row(["v"]), 3))
        let (_, results) = try #require(Self.results(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(header: 0xFE), 4))))
        #expect(results.rows == [MySQLRow(values: [[0x76]])])
    }

    @Test func multipleResultsFollowMoreResultsExist() throws {
        var machine = Self.ready()
        _ = machine.send(.query("SET @a = 1; SELECT @a; DO 2"), slot: 1)
        let more: UInt16 = 0x0A
        var sequenceID: UInt8 = 1
        func receive(_ payload: ByteBuffer) -> Machine.Action {
            defer { sequenceID += 1 }
            return machine.receive(MySQLFixtures.packet(payload, sequenceID))
        }
        guard case .none = receive(MySQLFixtures.ok(status: more)) else {
            Issue.record("the command ended early")
            return
        }
        _ = receive(ByteBuffer(bytes: [1]))
        _ = receive(MySQLFixtures.column("@a"))
        _ = receive(MySQLFixtures.row(["1"]))
        _ = receive(MySQLFixtures.ok(status: more, header: 0xFE))
        let (_, results) = try #require(Self.results(receive(MySQLFixtures.ok(affectedRows: 0, status: 2))))
        #expect(results.count == 3)
        #expect(results[0].ok?.statusFlags == more)
        #expect(results[1].resultSet?.rows.first?.string(0) == "1")
        #expect(results[2].ok != nil)
        #expect(results.lastRows == results[1].resultSet)
    }

    @Test func anERRInALaterStatementFailsTheCommandAndTheConnectionStaysUsable() throws {
        var machine = Self.ready()
        _ = machine.send(.query("DO 1; SELECT * FROM nope"), slot: 1)
        _ = machine.send(.ping, slot: 2)
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(status: 0x0A), 1))
        let err = MySQLFixtures.err(code: 1146, state: "42S02", message: "Table 'tooz.nope' doesn't exist")
        guard case .fail(1, .server(let server)) = machine.receive(MySQLFixtures.packet(err, 2)) else {
            Issue.record("expected the first command to fail")
            return
        }
        #expect(server.code == 1146 && server.sqlState == "42S02")
        let (slot, results) = try #require(Self.results(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 1))))
        #expect(slot == 2 && results.count == 1)
        #expect(machine.isReady)
    }

    @Test func pipelinedCommandsAreAnsweredInOrder() throws {
        var machine = Self.ready()
        for slot in 1...3 { _ = machine.send(.ping, slot: slot) }
        #expect(machine.pendingCount == 3)
        for slot in 1...3 {
            let (answered, _) = try #require(Self.results(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 1))))
            #expect(answered == slot)
        }
        #expect(machine.pendingCount == 0)
    }

    @Test func aLongQueryIsSplitAndItsReplyStartsAfterItsLastPacket() throws {
        var machine = Self.ready()
        let sql = "SELECT '" + String(repeating: "x", count: MySQLProtocol.maximumPacketPayload) + "'"
        guard case .write(let bytes) = machine.send(.query(sql), slot: 1) else {
            Issue.record("not written")
            return
        }
        #expect(Self.frames(bytes).map(\.0) == [0, 1])
        #expect(Self.results(machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 2))) != nil)
    }

    @Test func packetsNobodyAskedForCloseTheConnection() {
        var machine = Self.ready()
        guard case .failAndClose(nil, let failures) = machine.receive(MySQLFixtures.packet(MySQLFixtures.ok(), 1)), failures.isEmpty else {
            Issue.record("expected a close")
            return
        }
        guard case .fail(.notSent(let cause?)) = machine.send(.ping, slot: 1) else {
            Issue.record("expected not sent")
            return
        }
        #expect(cause is MySQLDecodingError)

        var idle = Self.ready()
        let err = MySQLFixtures.err(code: 4031, state: "HY000", message: "The client was disconnected by the server because of inactivity.")
        guard case .failAndClose(nil, let failures) = idle.receive(MySQLFixtures.packet(err, 0)), failures.isEmpty else {
            Issue.record("expected a close")
            return
        }
        guard case .fail(.notSent(let cause?)) = idle.send(.ping, slot: 1) else {
            Issue.record("expected not sent")
            return
        }
        #expect((cause as? MySQLServerError)?.code == 4031)
    }

    @Test func unexpectedRepliesAreGarbled() {
        // A column count of 0, a LOCAL INFILE request, a row with the wrong number of values.
        let cases: [[ByteBuffer]] = [
            [ByteBuffer(bytes: [0])  /* OK is fine */, ByteBuffer(bytes: [0xFB, 0x61])],
            [ByteBuffer(bytes: [0xFC, 0, 0])],
            [ByteBuffer(bytes: [1]), MySQLFixtures.column("a"), MySQLFixtures.row(["1", "2"])],
            [ByteBuffer(bytes: [1]), MySQLFixtures.column("a"), ByteBuffer(bytes: [5, 0x61])],
        ]
        for packets in cases {
            var machine = Self.ready()
            _ = machine.send(.query("q"), slot: 1)
            _ = machine.send(.ping, slot: 2)
            var failures: [Machine.Failure] = []
            for (index, payload) in packets.enumerated() {
                if case .failAndClose(nil, let failed) = machine.receive(MySQLFixtures.packet(payload, UInt8(index + 1))) {
                    failures = failed
                }
            }
            #expect(failures.map(\.slot) == [1, 2], "\(packets.map { Array($0.readableBytesView) })")
            #expect(failures.allSatisfy { Self.isGarbled($0.error) })
        }
    }

    @Test func randomRepliesNeverTrap() {
        var random = SplitMix64(state: 7)
        for _ in 0..<2000 {
            var machine = Self.ready(deprecateEOF: Bool.random(using: &random))
            _ = machine.send(.query("q"), slot: 1)
            for sequenceID in 1...UInt8.random(in: 1...6, using: &random) {
                let length = Int.random(in: 0..<24, using: &random)
                let payload = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) })
                _ = machine.receive(MySQLFixtures.packet(payload, sequenceID))
            }
        }
    }

    @Test func losingTheChannelFailsEveryPendingCommand() {
        var machine = Self.ready()
        _ = machine.send(.query("q"), slot: 1)
        _ = machine.send(.ping, slot: 2)
        _ = machine.receive(MySQLFixtures.packet(ByteBuffer(bytes: [1]), 1))
        guard case .failAndClose(nil, let failures) = machine.channelInactive() else {
            Issue.record("expected failures")
            return
        }
        #expect(failures.map(\.slot) == [1, 2])
        #expect(failures.allSatisfy { if case .connectionLost = $0.error { true } else { false } })
        guard case .none = machine.channelInactive() else {
            Issue.record("a second inactive does nothing")
            return
        }
    }

    @Test func theChannelGoingAwayDuringLoginFailsTheLogin() {
        var machine = Self.machine()
        _ = machine.receive(MySQLFixtures.packet(MySQLFixtures.handshake(), 0))
        guard case .connectionLost = Self.loginFailure(machine.channelInactive()) else {
            Issue.record("expected the login to fail")
            return
        }
    }

    @Test func quitOnlyWhenLoggedIn() {
        #expect(Self.machine().quit() == nil)
        let quit = Self.ready().quit()
        #expect(quit.map { Array($0.readableBytesView) } == [1, 0, 0, 0, 0x01])
    }
}
