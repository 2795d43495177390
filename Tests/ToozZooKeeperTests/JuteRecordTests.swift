import NIOCore
import Testing
import Tooz

@testable import ToozZooKeeper

/// Byte-exact round trips of every jute record we use, against bytes built by hand from
/// `zookeeper.jute`.
@Suite("Jute records")
struct JuteRecordTests {
    @Test("ConnectRequest for a new session: version 0, 30 s, session 0, 16 zero bytes, read-only false")
    func connectRequestNewSession() throws {
        let request = ZooKeeperConnectRequest(
            lastZxidSeen: 0x42, timeOut: 30_000, sessionID: 0, password: ZooKeeperConnectRequest.newSessionPassword
        )
        let expected = JuteBytes().int(0).long(0x42).int(30_000).long(0).buffer([UInt8](repeating: 0, count: 16)).bool(false)
        #expect(expected.bytes.count == 4 + 8 + 4 + 8 + 4 + 16 + 1)
        try expectRoundTrip(request, expected, optionalTailFrom: expected.bytes.count - 1)
    }

    @Test("ConnectRequest resuming a session")
    func connectRequestResume() throws {
        let password: [UInt8] = Array(1...16)
        let request = ZooKeeperConnectRequest(lastZxidSeen: 9, timeOut: 10_000, sessionID: 0x1_0000_0001, password: password)
        try expectRoundTrip(
            request,
            JuteBytes().int(0).long(9).int(10_000).long(0x1_0000_0001).buffer(password).bool(false),
            optionalTailFrom: 44
        )
    }

    @Test("ConnectRequest without the trailing read-only byte reads as not read-only")
    func connectRequestWithoutReadOnly() throws {
        let bytes = JuteBytes().int(0).long(1).int(2).long(3).buffer([]).bytes
        let request = try decoded(ZooKeeperConnectRequest.self, bytes)
        #expect(request == ZooKeeperConnectRequest(lastZxidSeen: 1, timeOut: 2, sessionID: 3, password: [], readOnly: false))
    }

    @Test("ConnectResponse with and without the read-only byte")
    func connectResponse() throws {
        let password: [UInt8] = Array(100..<116)
        try expectRoundTrip(
            ZooKeeperConnectResponse(timeOut: 20_000, sessionID: 0x0123_4567_89ab_cdef, password: password, readOnly: false),
            JuteBytes().int(0).int(20_000).long(0x0123_4567_89ab_cdef).buffer(password).bool(false),
            optionalTailFrom: 36
        )
        try expectRoundTrip(
            ZooKeeperConnectResponse(timeOut: 4_000, sessionID: 7, password: password, readOnly: nil),
            JuteBytes().int(0).int(4_000).long(7).buffer(password)
        )
    }

    @Test("RequestHeader and ReplyHeader")
    func headers() throws {
        try expectRoundTrip(ZooKeeperRequestHeader(xid: 7, type: .getData), JuteBytes().int(7).int(4))
        try expectRoundTrip(ZooKeeperRequestHeader(xid: -2, type: .ping), JuteBytes().int(-2).int(11))
        try expectRoundTrip(ZooKeeperReplyHeader(xid: 7, zxid: 0x100, err: .noNode), JuteBytes().int(7).long(0x100).int(-101))
        try expectRoundTrip(ZooKeeperReplyHeader(xid: -1, zxid: -1, err: .ok), JuteBytes().int(-1).long(-1).int(0))
    }

    @Test("Stat: all eleven fields, 68 bytes")
    func stat() throws {
        let expected = JuteBytes().stat(sampleStat)
        #expect(expected.bytes.count == ZooKeeperStat.encodedSize)
        try expectRoundTrip(sampleStat, expected)
        #expect(Array(expected.bytes.prefix(8)) == [1, 2, 3, 4, 5, 6, 7, 8], "czxid comes first")
    }

    @Test("Id and ACL, and the digest ACL tooz puts on its nodes")
    func acl() throws {
        try expectRoundTrip(ZooKeeperID.anyone, JuteBytes().string("world").string("anyone"))
        try expectRoundTrip(ZooKeeperACL.openUnsafe[0], JuteBytes().int(31).string("world").string("anyone"))
        try expectRoundTrip(
            ZooKeeperDigest.acl(user: "user", password: "pass"),
            JuteBytes().int(31).string("digest").string("user:smGaoVKd/cQkjm7b88GyorAUz20=")
        )
    }

    @Test("CreateRequest in every create mode", arguments: ZooKeeperCreateMode.allCases)
    func createRequest(mode: ZooKeeperCreateMode) throws {
        let request = ZooKeeperCreateRequest(
            path: "/tooz/locks/l/0123456789abcdef0123456789abcdef__lock__",
            data: Array("member-1".utf8),
            acl: ZooKeeperACL.openUnsafe,
            mode: mode
        )
        let expected = JuteBytes()
            .string("/tooz/locks/l/0123456789abcdef0123456789abcdef__lock__")
            .buffer(Array("member-1".utf8))
            .int(1).int(31).string("world").string("anyone")
            .int(mode.rawValue)
        try expectRoundTrip(request, expected)
    }

    @Test("Create modes carry ZooKeeper's flag values")
    func createModeFlags() {
        #expect(ZooKeeperCreateMode.persistent.rawValue == 0)
        #expect(ZooKeeperCreateMode.ephemeral.rawValue == 1)
        #expect(ZooKeeperCreateMode.persistentSequential.rawValue == 2)
        #expect(ZooKeeperCreateMode.ephemeralSequential.rawValue == 3)
        #expect(ZooKeeperCreateMode.ephemeralSequential.isEphemeral && ZooKeeperCreateMode.ephemeralSequential.isSequential)
        #expect(!ZooKeeperCreateMode.persistent.isEphemeral && !ZooKeeperCreateMode.ephemeral.isSequential)
    }

    @Test("CreateRequest with unknown flags is refused")
    func createRequestUnknownFlags() throws {
        let bytes = JuteBytes().string("/a").buffer([]).int(0).int(4).bytes
        #expect(throws: ToozError.self) { _ = try decoded(ZooKeeperCreateRequest.self, bytes) }
    }

    @Test("CreateResponse and Create2Response")
    func createResponses() throws {
        try expectRoundTrip(ZooKeeperCreateResponse(path: "/tooz/g/m"), JuteBytes().string("/tooz/g/m"))
        try expectRoundTrip(
            ZooKeeperCreate2Response(path: "/tooz/locks/x__lock__0000000003", stat: sampleStat),
            JuteBytes().string("/tooz/locks/x__lock__0000000003").stat(sampleStat)
        )
    }

    @Test("DeleteRequest with and without a version, and CheckVersionRequest")
    func deleteAndCheck() throws {
        try expectRoundTrip(ZooKeeperDeleteRequest(path: "/tooz/g"), JuteBytes().string("/tooz/g").int(-1))
        try expectRoundTrip(ZooKeeperDeleteRequest(path: "/tooz/g", version: 12), JuteBytes().string("/tooz/g").int(12))
        try expectRoundTrip(ZooKeeperCheckVersionRequest(path: "/a", version: 3), JuteBytes().string("/a").int(3))
    }

    @Test("Exists, GetData and GetChildren2 requests: path and watch flag")
    func pathWatchRequests() throws {
        try expectRoundTrip(ZooKeeperExistsRequest(path: "/tooz", watch: true), JuteBytes().string("/tooz").bool(true))
        try expectRoundTrip(ZooKeeperGetDataRequest(path: "/tooz/g/m", watch: false), JuteBytes().string("/tooz/g/m").bool(false))
        try expectRoundTrip(ZooKeeperGetChildren2Request(path: "/tooz/g", watch: true), JuteBytes().string("/tooz/g").bool(true))
    }

    @Test("Exists, SetData, GetData and GetChildren2 responses")
    func responses() throws {
        try expectRoundTrip(ZooKeeperStatResponse(stat: sampleStat), JuteBytes().stat(sampleStat))
        try expectRoundTrip(
            ZooKeeperGetDataResponse(data: [0x81, 0xa1, 0x61, 0x01], stat: sampleStat),
            JuteBytes().buffer([0x81, 0xa1, 0x61, 0x01]).stat(sampleStat)
        )
        try expectRoundTrip(
            ZooKeeperGetChildren2Response(children: ["a", "é", "leader"], stat: sampleStat),
            JuteBytes().int(3).string("a").string("é").string("leader").stat(sampleStat)
        )
        try expectRoundTrip(ZooKeeperGetChildren2Response(children: [], stat: sampleStat), JuteBytes().int(0).stat(sampleStat))
    }

    @Test("Null buffers and vectors read as empty")
    func nulls() throws {
        let data = try decoded(ZooKeeperGetDataResponse.self, JuteBytes().buffer(nil).stat(sampleStat).bytes)
        #expect(data.data.isEmpty)
        let children = try decoded(ZooKeeperGetChildren2Response.self, JuteBytes().int(-1).stat(sampleStat).bytes)
        #expect(children.children.isEmpty)
    }

    @Test("SetDataRequest")
    func setData() throws {
        try expectRoundTrip(
            ZooKeeperSetDataRequest(path: "/tooz/g/m", data: [1, 2, 3], version: -1),
            JuteBytes().string("/tooz/g/m").buffer([1, 2, 3]).int(-1)
        )
    }

    @Test("AuthPacket for digest, and its description hides the secret")
    func authPacket() throws {
        let packet = ZooKeeperDigest.authPacket(user: "user", password: "pass")
        try expectRoundTrip(packet, JuteBytes().int(0).string("digest").buffer(Array("user:pass".utf8)))
        #expect(!packet.description.contains("pass"))
    }

    @Test("SetWatches: relative zxid and the three watch lists")
    func setWatches() throws {
        try expectRoundTrip(
            ZooKeeperSetWatches(relativeZxid: 0x55, dataWatches: ["/a", "/b"], existWatches: [], childWatches: ["/tooz/g"]),
            JuteBytes().long(0x55).int(2).string("/a").string("/b").int(0).int(1).string("/tooz/g")
        )
    }

    @Test("WatcherEvent")
    func watcherEvent() throws {
        try expectRoundTrip(
            ZooKeeperWatcherEvent(type: .nodeChildrenChanged, state: .syncConnected, path: "/tooz/g"),
            JuteBytes().int(4).int(3).string("/tooz/g")
        )
        let unknown = try decoded(ZooKeeperWatcherEvent.self, JuteBytes().int(42).int(-112).string("/x").bytes)
        #expect(unknown.type.rawValue == 42 && unknown.state == .expired)
    }

    @Test("MultiRequest: create, delete, setData and check, closed by the done header")
    func multiRequest() throws {
        let create = ZooKeeperCreateRequest(path: "/g/m", data: [9], acl: ZooKeeperACL.openUnsafe, mode: .ephemeral)
        let request = ZooKeeperMultiRequest(operations: [
            .create(create),
            .create2(create),
            .delete(ZooKeeperDeleteRequest(path: "/g/old", version: 2)),
            .setData(ZooKeeperSetDataRequest(path: "/g", data: [], version: -1)),
            .check(ZooKeeperCheckVersionRequest(path: "/g", version: 5)),
        ])
        let createBody = JuteBytes().string("/g/m").buffer([9]).int(1).int(31).string("world").string("anyone").int(1)
        let expected = JuteBytes()
            .int(1).bool(false).int(-1).raw(createBody.bytes)
            .int(15).bool(false).int(-1).raw(createBody.bytes)
            .int(2).bool(false).int(-1).string("/g/old").int(2)
            .int(5).bool(false).int(-1).string("/g").buffer([]).int(-1)
            .int(13).bool(false).int(-1).string("/g").int(5)
            .int(-1).bool(true).int(-1)
        try expectRoundTrip(request, expected)
    }

    @Test("MultiResponse: successful results")
    func multiResponseSuccess() throws {
        let response = ZooKeeperMultiResponse(results: [
            .create(path: "/g/m"),
            .create2(path: "/g/n", stat: sampleStat),
            .delete,
            .setData(stat: sampleStat),
            .check,
        ])
        let expected = JuteBytes()
            .int(1).bool(false).int(0).string("/g/m")
            .int(15).bool(false).int(0).string("/g/n").stat(sampleStat)
            .int(2).bool(false).int(0)
            .int(5).bool(false).int(0).stat(sampleStat)
            .int(13).bool(false).int(0)
            .int(-1).bool(true).int(-1)
        try expectRoundTrip(response, expected)
        #expect(response.firstError == nil)
    }

    @Test("MultiResponse: a rolled-back transaction is all error results")
    func multiResponseErrors() throws {
        let response = ZooKeeperMultiResponse(results: [.error(.ok), .error(.nodeExists), .error(.runtimeInconsistency)])
        let expected = JuteBytes()
            .int(-1).bool(false).int(0).int(0)
            .int(-1).bool(false).int(-110).int(-110)
            .int(-1).bool(false).int(-2).int(-2)
            .int(-1).bool(true).int(-1)
        try expectRoundTrip(response, expected)
        #expect(response.firstError == .nodeExists)
    }

    @Test("MultiResponse with an unknown result type is refused")
    func multiResponseUnknownType() {
        let bytes = JuteBytes().int(8).bool(false).int(0).int(-1).bool(true).int(-1).bytes
        #expect(throws: ToozError.self) { _ = try decoded(ZooKeeperMultiResponse.self, bytes) }
    }

    @Test("MultiHeader and ErrorResponse")
    func multiHeader() throws {
        try expectRoundTrip(ZooKeeperMultiHeader.end, JuteBytes().int(-1).bool(true).int(-1))
        try expectRoundTrip(ZooKeeperErrorResponse(err: .badVersion), JuteBytes().int(-103))
    }

    @Test("Request frames: length prefix, header, body; closeSession has no body")
    func requestFrames() throws {
        let frame = try ZooKeeperRequest.getData(ZooKeeperGetDataRequest(path: "/tooz", watch: true)).frame(xid: 3)
        let body = JuteBytes().int(3).int(4).string("/tooz").bool(true)
        #expect(Array(frame.readableBytesView) == body.framed)

        let close = try JuteWriter.frame { (writer) throws(ToozError) in
            try writer.writeRecord(ZooKeeperRequestHeader(xid: 9, type: .closeSession))
        }
        #expect(Array(close.readableBytesView) == [0, 0, 0, 8, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xf5])
    }

    @Test("Responses decode according to the request they answer")
    func responseDecoding() throws {
        var reader = JuteReader(buffer: JuteBytes().string("/g/m0000000001").byteBuffer)
        #expect(try ZooKeeperResponse.decode(for: .create, from: &reader) == .created(path: "/g/m0000000001"))
        reader = JuteReader(buffer: ByteBuffer())
        #expect(try ZooKeeperResponse.decode(for: .delete, from: &reader) == .deleted)
        reader = JuteReader(buffer: JuteBytes().stat(sampleStat).byteBuffer)
        #expect(try ZooKeeperResponse.decode(for: .exists, from: &reader) == .stat(sampleStat))
        reader = JuteReader(buffer: JuteBytes().stat(sampleStat).int(0).byteBuffer)
        #expect(throws: ToozError.self) { _ = try ZooKeeperResponse.decode(for: .exists, from: &reader) }
    }
}
