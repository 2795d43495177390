import NIOCore
import Testing
import Tooz

@testable import ToozZooKeeper

/// Malformed input fails with a `ToozError`, never a crash or a huge allocation.
@Suite("Jute reader on malformed input")
struct JuteReaderTests {
    private func expectBackendError(_ bytes: JuteBytes, _ read: (inout JuteReader) throws(ToozError) -> Void) {
        var reader = JuteReader(buffer: bytes.byteBuffer)
        let error = #expect(throws: ToozError.self) { try read(&reader) }
        #expect(error?.code == .backendError)
    }

    @Test("Truncated integers")
    func truncatedIntegers() {
        expectBackendError(JuteBytes().raw([0, 0, 1])) { (reader) throws(ToozError) in _ = try reader.readInt() }
        expectBackendError(JuteBytes().raw([0, 0, 0, 0, 0, 0, 1])) { (reader) throws(ToozError) in _ = try reader.readLong() }
        expectBackendError(JuteBytes()) { (reader) throws(ToozError) in _ = try reader.readBool() }
    }

    @Test("Negative lengths other than -1")
    func negativeLengths() {
        expectBackendError(JuteBytes().int(-2)) { (reader) throws(ToozError) in _ = try reader.readBuffer() }
        expectBackendError(JuteBytes().int(.min)) { (reader) throws(ToozError) in _ = try reader.readString() }
        expectBackendError(JuteBytes().int(-5)) { (reader) throws(ToozError) in _ = try reader.readStringVector() }
    }

    @Test("A length beyond the bytes left")
    func lengthBeyondFrame() {
        expectBackendError(JuteBytes().int(5).raw([1, 2, 3])) { (reader) throws(ToozError) in _ = try reader.readBuffer() }
        expectBackendError(JuteBytes().int(.max)) { (reader) throws(ToozError) in _ = try reader.readString() }
    }

    @Test("A vector count beyond what the frame can hold fails before reserving")
    func vectorCountBeyondFrame() {
        // 2^31-1 strings announced in an 8-byte frame: refused from the count alone.
        expectBackendError(JuteBytes().int(.max).int(0)) { (reader) throws(ToozError) in _ = try reader.readStringVector() }
        // Three ACLs announced, room for less than one.
        expectBackendError(JuteBytes().int(3).int(31).int(0)) { (reader) throws(ToozError) in _ = try reader.readACLs() }
        // A count that fits the bytes but whose elements are short.
        expectBackendError(JuteBytes().int(2).string("a").int(7)) { (reader) throws(ToozError) in _ = try reader.readStringVector() }
    }

    @Test("Invalid UTF-8 in a string")
    func invalidUTF8() {
        expectBackendError(JuteBytes().int(2).raw([0xc3, 0x28])) { (reader) throws(ToozError) in _ = try reader.readString() }
    }

    @Test("Null values read as nil")
    func nullValues() throws {
        var reader = JuteReader(buffer: JuteBytes().int(-1).int(-1).int(-1).byteBuffer)
        #expect(try reader.readBuffer() == nil)
        #expect(try reader.readString() == nil)
        #expect(try reader.readStringVector() == nil)
        #expect(reader.isAtEnd)
    }

    @Test("Bytes left after a record are refused")
    func trailingBytes() {
        let bytes = JuteBytes().string("/a").raw([0])
        let error = #expect(throws: ToozError.self) { _ = try decoded(ZooKeeperCreateResponse.self, bytes.bytes) }
        #expect(error?.code == .backendError)
    }

    @Test("A multi response without its done header is truncated")
    func multiWithoutEnd() {
        let bytes = JuteBytes().int(2).bool(false).int(0)
        #expect(throws: ToozError.self) { _ = try decoded(ZooKeeperMultiResponse.self, bytes.bytes) }
    }

    @Test("Null values are written as -1")
    func writerNeverCrashes() throws {
        var writer = JuteWriter()
        try writer.writeString(nil)
        try writer.writeBuffer(nil)
        try writer.writeStringVector(nil)
        #expect(Array(writer.buffer.readableBytesView) == JuteBytes().int(-1).int(-1).int(-1).bytes)
    }
}

@Suite("ZooKeeper codes")
struct ZooKeeperCodeTests {
    @Test("Every KeeperException code has its value and name")
    func errorCodes() {
        let expected: [(ZooKeeperErrorCode, Int32, String)] = [
            (.ok, 0, "OK"), (.systemError, -1, "SYSTEMERROR"), (.runtimeInconsistency, -2, "RUNTIMEINCONSISTENCY"),
            (.dataInconsistency, -3, "DATAINCONSISTENCY"), (.connectionLoss, -4, "CONNECTIONLOSS"),
            (.marshallingError, -5, "MARSHALLINGERROR"), (.unimplemented, -6, "UNIMPLEMENTED"),
            (.operationTimeout, -7, "OPERATIONTIMEOUT"), (.badArguments, -8, "BADARGUMENTS"),
            (.unknownSession, -12, "UNKNOWNSESSION"), (.newConfigNoQuorum, -13, "NEWCONFIGNOQUORUM"),
            (.reconfigInProgress, -14, "RECONFIGINPROGRESS"), (.apiError, -100, "APIERROR"),
            (.noNode, -101, "NONODE"), (.noAuth, -102, "NOAUTH"), (.badVersion, -103, "BADVERSION"),
            (.noChildrenForEphemerals, -108, "NOCHILDRENFOREPHEMERALS"), (.nodeExists, -110, "NODEEXISTS"),
            (.notEmpty, -111, "NOTEMPTY"), (.sessionExpired, -112, "SESSIONEXPIRED"),
            (.invalidCallback, -113, "INVALIDCALLBACK"), (.invalidACL, -114, "INVALIDACL"),
            (.authFailed, -115, "AUTHFAILED"), (.sessionMoved, -118, "SESSIONMOVED"),
            (.notReadOnly, -119, "NOTREADONLY"), (.ephemeralOnLocalSession, -120, "EPHEMERALONLOCALSESSION"),
            (.noWatcher, -121, "NOWATCHER"), (.requestTimeout, -122, "REQUESTTIMEOUT"),
            (.reconfigDisabled, -123, "RECONFIGDISABLED"),
            (.sessionClosedRequireSASLAuth, -124, "SESSIONCLOSEDREQUIRESASLAUTH"),
            (.quotaExceeded, -125, "QUOTAEXCEEDED"), (.throttledOp, -127, "THROTTLEDOP"),
        ]
        for (code, value, name) in expected {
            #expect(code.rawValue == value)
            #expect(code.name == name)
        }
        #expect(ZooKeeperErrorCode.allKnown.count == expected.count)
        #expect(ZooKeeperErrorCode(rawValue: -999).name == "UNKNOWN")
        #expect(ZooKeeperErrorCode.noNode.description == "NONODE (-101): the node does not exist")
    }

    @Test("Op codes and reserved xids")
    func opCodes() {
        let expected: [(ZooKeeperOpCode, Int32)] = [
            (.notification, 0), (.create, 1), (.delete, 2), (.exists, 3), (.getData, 4), (.setData, 5),
            (.getACL, 6), (.setACL, 7), (.getChildren, 8), (.sync, 9), (.ping, 11), (.getChildren2, 12),
            (.check, 13), (.multi, 14), (.create2, 15), (.auth, 100), (.setWatches, 101),
            (.createSession, -10), (.closeSession, -11), (.error, -1),
        ]
        for (code, value) in expected { #expect(code.rawValue == value) }
        #expect(ZooKeeperOpCode.getChildren2.name == "getChildren2")
        #expect(ZooKeeperOpCode(rawValue: 555).name == "op(555)")
        #expect(ZooKeeperXid.notification == -1)
        #expect(ZooKeeperXid.ping == -2)
        #expect(ZooKeeperXid.auth == -4)
        #expect(ZooKeeperXid.setWatches == -8)
    }

    @Test("Watcher event types and keeper states")
    func watcherValues() {
        #expect(ZooKeeperWatcherEvent.EventType.none.rawValue == -1)
        #expect(ZooKeeperWatcherEvent.EventType.nodeCreated.rawValue == 1)
        #expect(ZooKeeperWatcherEvent.EventType.nodeDeleted.rawValue == 2)
        #expect(ZooKeeperWatcherEvent.EventType.nodeDataChanged.rawValue == 3)
        #expect(ZooKeeperWatcherEvent.EventType.nodeChildrenChanged.rawValue == 4)
        #expect(ZooKeeperWatcherEvent.KeeperState.disconnected.rawValue == 0)
        #expect(ZooKeeperWatcherEvent.KeeperState.syncConnected.rawValue == 3)
        #expect(ZooKeeperWatcherEvent.KeeperState.authFailed.rawValue == 4)
        #expect(ZooKeeperWatcherEvent.KeeperState.expired.rawValue == -112)
        #expect(ZooKeeperWatcherEvent.KeeperState.closed.rawValue == 7)
        #expect(ZooKeeperWatcherEvent.EventType.nodeDataChanged.description == "NodeDataChanged")
    }
}
