import NIOCore
import Testing
import Tooz
import ToozMySQL

@Suite("MySQL protocol messages")
struct MySQLProtocolMessagesTests {
    @Test func parsesMariaDBHandshake() throws {
        let capabilities = MySQLFixtures.serverCapabilities(ssl: true)
        let handshake = try MySQLHandshake(parsing: MySQLFixtures.handshake(connectionID: 0x0102_0304, capabilities: capabilities))
        #expect(handshake.protocolVersion == 10)
        #expect(handshake.serverVersion == "5.5.5-10.11.6-MariaDB")
        #expect(handshake.connectionID == 0x0102_0304)
        #expect(handshake.authPluginData == MySQLFixtures.nonce)
        #expect(handshake.capabilities.rawValue == capabilities)
        #expect(handshake.capabilities.contains(.ssl))
        #expect(handshake.characterSet == 45)
        #expect(handshake.statusFlags == 2)
        #expect(handshake.authPluginName == "mysql_native_password")
    }

    @Test func rejectsOtherProtocolVersions() {
        var payload = MySQLFixtures.handshake()
        payload.setInteger(UInt8(9), at: 0)
        #expect(throws: MySQLDecodingError.self) { try MySQLHandshake(parsing: payload) }
    }

    @Test func encodesHandshakeResponse41() {
        let response = MySQLHandshakeResponse(
            capabilities: [.protocol41, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedClientData, .connectWithDB],
            username: "tooz",
            authResponse: [1, 2, 3],
            database: "db",
            authPluginName: "mysql_native_password"
        )
        // Capabilities 0x0028_8208, max packet 16 MiB, utf8mb4_general_ci, 23 zero bytes.
        var expected: [UInt8] = [0x08, 0x82, 0x28, 0x00]
        expected += [0x00, 0x00, 0x00, 0x01, 45] + [UInt8](repeating: 0, count: 23)
        expected += Array("tooz".utf8) + [0] + [3, 1, 2, 3] + Array("db".utf8) + [0] + Array("mysql_native_password".utf8) + [0]
        #expect(Array(response.encode().readableBytesView) == expected)
        #expect(Array(response.encodeSSLRequest().readableBytesView) == Array(expected.prefix(32)))
    }

    @Test func parsesOKEOFAndERR() throws {
        let ok = try MySQLOK(parsing: MySQLFixtures.ok(affectedRows: 300, lastInsertID: 70000, status: 0x000A, warnings: 3))
        #expect(ok == MySQLOK(affectedRows: 300, lastInsertID: 70000, statusFlags: 0x000A, warnings: 3))
        #expect(ok.moreResultsExist)
        let eof = try MySQLEOF(parsing: MySQLFixtures.eof(status: 0x0008, warnings: 1))
        #expect(eof == MySQLEOF(warnings: 1, statusFlags: 8))
        let err = try MySQLServerError(parsing: MySQLFixtures.err(code: 1146, state: "42S02", message: "Table 'tooz.nope' doesn't exist"))
        #expect(err == MySQLServerError(code: 1146, sqlState: "42S02", message: "Table 'tooz.nope' doesn't exist"))
        #expect(err.description == "Table 'tooz.nope' doesn't exist (error 1146, SQLSTATE 42S02)")
        let early = try MySQLServerError(parsing: MySQLFixtures.err(code: 1040, state: nil, message: "Too many connections"))
        #expect(early == MySQLServerError(code: 1040, sqlState: "HY000", message: "Too many connections"))
    }

    @Test func parsesColumnsAndRows() throws {
        let column = try MySQLColumn(parsing: MySQLFixtures.column("name", type: 0x08, flags: 0x21, charset: 63))
        #expect(column == MySQLColumn(name: "name", type: 0x08, flags: 0x21, characterSet: 63))
        let row = try MySQLRow(parsing: MySQLFixtures.row(["-12", nil, "", "x"]), columnCount: 4)
        #expect(row.values == [Array("-12".utf8), nil, [], [0x78]])
        #expect(try row.int64(0, "a number") == -12)
        #expect(try row.int64(1, "a number") == nil)
        #expect(row.string(3) == "x")
        #expect(row.bytes(9) == nil)
        #expect(throws: ToozError.self) { try row.int64(3, "a number") }
        #expect(throws: ToozError.self) { try row.int64(2, "a number") }
        #expect(throws: ToozError.self) { try row.int64(7, "a number") }
        // Extra bytes after the last value are no row.
        #expect(throws: MySQLDecodingError.self) { try MySQLRow(parsing: MySQLFixtures.row(["1", "2"]), columnCount: 1) }
    }

    @Test func parsesIntegersAtTheirLimits() {
        #expect(MySQLRow.parseInt64(Array("9223372036854775807".utf8)) == .max)
        #expect(MySQLRow.parseInt64(Array("-9223372036854775808".utf8)) == .min)
        #expect(MySQLRow.parseInt64(Array("9223372036854775808".utf8)) == nil)
        #expect(MySQLRow.parseInt64(Array("+7".utf8)) == 7)
        for garbage in ["", "-", "1.5", " 1", "0x10", "99999999999999999999999"] {
            #expect(MySQLRow.parseInt64(Array(garbage.utf8)) == nil, "\(garbage)")
        }
    }

    @Test func parsesAuthSwitchRequests() throws {
        var payload = ByteBuffer(bytes: [0xFE] + Array("caching_sha2_password".utf8) + [0] + MySQLFixtures.nonce + [0])
        let request = try MySQLAuthSwitchRequest(parsing: payload)
        #expect(request == MySQLAuthSwitchRequest(pluginName: "caching_sha2_password", pluginData: MySQLFixtures.nonce))
        payload = ByteBuffer(bytes: [0xFE])
        #expect(throws: MySQLDecodingError.self) { try MySQLAuthSwitchRequest(parsing: payload) }
    }

    /// Every prefix of a packet either throws or, where the protocol allows a packet to end
    /// there, parses; none traps.
    @Test func truncatedPacketsThrowAtEveryCut() throws {
        func cuts(_ payload: ByteBuffer) -> [ByteBuffer] {
            (0..<payload.readableBytes).map { payload.getSlice(at: payload.readerIndex, length: $0)! }
        }
        let handshake = MySQLFixtures.handshake()
        // Pre-4.1 handshakes end right after the lower capability flags.
        let oldHandshakeEnd = 1 + "5.5.5-10.11.6-MariaDB".utf8.count + 1 + 4 + 8 + 1 + 2
        for (length, prefix) in cuts(handshake).enumerated() where length != oldHandshakeEnd {
            #expect(throws: MySQLDecodingError.self, "handshake cut at \(length)") { try MySQLHandshake(parsing: prefix) }
        }
        for prefix in cuts(MySQLFixtures.ok(affectedRows: 70000, lastInsertID: 300)) {
            #expect(throws: MySQLDecodingError.self) { try MySQLOK(parsing: prefix) }
        }
        for prefix in cuts(MySQLFixtures.eof()) {
            #expect(throws: MySQLDecodingError.self) { try MySQLEOF(parsing: prefix) }
        }
        // The SQLSTATE is optional and the message is the rest of the packet: only cuts inside
        // the header and the code are malformed.
        for prefix in cuts(MySQLFixtures.err(code: 1045, state: "28000", message: "denied")).prefix(3) {
            #expect(throws: MySQLDecodingError.self) { try MySQLServerError(parsing: prefix) }
        }
        for prefix in cuts(MySQLFixtures.column("a_column")) {
            #expect(throws: MySQLDecodingError.self) { try MySQLColumn(parsing: prefix) }
        }
        for prefix in cuts(MySQLFixtures.row(["one", nil, String(repeating: "z", count: 300)])) {
            #expect(throws: MySQLDecodingError.self) { try MySQLRow(parsing: prefix, columnCount: 3) }
        }
    }

    /// Random bytes never trap a parser.
    @Test func garbageNeverTraps() {
        var random = SplitMix64(state: 42)
        for _ in 0..<5000 {
            let length = Int.random(in: 0..<64, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if !bytes.isEmpty, Bool.random(using: &random) { bytes[0] = [0x00, 0x0A, 0xFE, 0xFF, 0x01][Int.random(in: 0..<5, using: &random)] }
            let payload = ByteBuffer(bytes: bytes)
            _ = try? MySQLHandshake(parsing: payload)
            _ = try? MySQLOK(parsing: payload)
            _ = try? MySQLEOF(parsing: payload)
            _ = try? MySQLServerError(parsing: payload)
            _ = try? MySQLAuthSwitchRequest(parsing: payload)
            _ = try? MySQLColumn(parsing: payload)
            _ = try? MySQLRow(parsing: payload, columnCount: 3)
            var decoder = MySQLPacketDecoder(maximumPayloadLength: 1 << 20)
            var buffer = payload
            _ = try? decoder.decode(buffer: &buffer)
        }
    }
}
