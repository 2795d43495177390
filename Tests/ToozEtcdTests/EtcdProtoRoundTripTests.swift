import Foundation
import SwiftProtobuf
import Testing
import ToozEtcd

/// The generated etcd messages (Sources/ToozEtcd/Generated) against wire bytes worked out by
/// hand from etcd v3.4.23's field numbers: if a regeneration renumbered or retyped a field,
/// these bytes would no longer match.
@Suite struct EtcdProtoRoundTripTests {
    @Test func rangeRequestWireBytes() throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("a".utf8)
        let keyOnly: [UInt8] = try request.serializedBytes()
        #expect(keyOnly == [0x0a, 0x01, 0x61])

        request.rangeEnd = Data("b".utf8)
        request.limit = 1
        request.sortOrder = .descend
        request.sortTarget = .mod
        request.serializable = true
        let full: [UInt8] = try request.serializedBytes()
        #expect(
            full == [
                0x0a, 0x01, 0x61,  // 1 key "a"
                0x12, 0x01, 0x62,  // 2 range_end "b"
                0x18, 0x01,  // 3 limit 1
                0x28, 0x02,  // 5 sort_order DESCEND
                0x30, 0x03,  // 6 sort_target MOD
                0x38, 0x01,  // 7 serializable
            ])
        #expect(try Etcdserverpb_RangeRequest(serializedBytes: full) == request)

        // The proto packages are etcd's: gRPC paths (/etcdserverpb.KV/Range) are built on them.
        #expect(Etcdserverpb_RangeRequest.protoMessageName == "etcdserverpb.RangeRequest")
        #expect(Mvccpb_KeyValue.protoMessageName == "mvccpb.KeyValue")
    }

    @Test func txnRequestWithCompareAndPutRoundTrips() throws {
        var compare = Etcdserverpb_Compare()
        compare.result = .equal
        compare.target = .create
        compare.key = Data("k".utf8)
        compare.targetUnion = .createRevision(0)  // "k does not exist"

        var put = Etcdserverpb_PutRequest()
        put.key = Data("k".utf8)
        put.value = Data("v".utf8)
        put.lease = 7
        var range = Etcdserverpb_RangeRequest()
        range.key = Data("k".utf8)

        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        txn.success = [Etcdserverpb_RequestOp.with { $0.request = .requestPut(put) }]
        txn.failure = [Etcdserverpb_RequestOp.with { $0.request = .requestRange(range) }]

        let bytes: [UInt8] = try txn.serializedBytes()
        let expected: [UInt8] = [
            0x0a, 0x07,  // 1 compare, 7 bytes
            0x10, 0x01,  //   2 target CREATE (result EQUAL is 0: not written)
            0x1a, 0x01, 0x6b,  //   3 key "k"
            0x28, 0x00,  //   5 create_revision 0: a oneof member is written even when 0
            0x12, 0x0a,  // 2 success, 10 bytes
            0x12, 0x08,  //   2 request_put, 8 bytes
            0x0a, 0x01, 0x6b,  //     1 key "k"
            0x12, 0x01, 0x76,  //     2 value "v"
            0x18, 0x07,  //     3 lease 7
            0x1a, 0x05,  // 3 failure, 5 bytes
            0x0a, 0x03,  //   1 request_range, 3 bytes
            0x0a, 0x01, 0x6b,  //     1 key "k"
        ]
        #expect(bytes == expected)

        let decoded = try Etcdserverpb_TxnRequest(serializedBytes: bytes)
        #expect(decoded == txn)
        #expect(decoded.compare.count == 1)
        #expect(decoded.compare[0].target == .create)
        #expect(decoded.compare[0].targetUnion == .createRevision(0))
        guard case .requestPut(let decodedPut)? = decoded.success.first?.request else {
            Issue.record("success[0] is not a put: \(decoded.success)")
            return
        }
        #expect(decodedPut.key == Data("k".utf8))
        #expect(decodedPut.value == Data("v".utf8))
        #expect(decodedPut.lease == 7)
        guard case .requestRange(let decodedRange)? = decoded.failure.first?.request else {
            Issue.record("failure[0] is not a range: \(decoded.failure)")
            return
        }
        #expect(decodedRange.key == Data("k".utf8))
    }

    @Test func watchResponseDecodesEvents() throws {
        let bytes: [UInt8] = [
            0x0a, 0x08,  // 1 header, 8 bytes
            0x08, 0x01,  //   1 cluster_id 1
            0x10, 0x02,  //   2 member_id 2
            0x18, 0x05,  //   3 revision 5
            0x20, 0x03,  //   4 raft_term 3
            0x10, 0x07,  // 2 watch_id 7
            0x5a, 0x11,  // 11 events, 17 bytes (type PUT is 0: not written)
            0x12, 0x0f,  //   2 kv, 15 bytes
            0x0a, 0x01, 0x6b,  //     1 key "k"
            0x10, 0x04,  //     2 create_revision 4
            0x18, 0x05,  //     3 mod_revision 5
            0x20, 0x02,  //     4 version 2
            0x2a, 0x01, 0x76,  //     5 value "v"
            0x30, 0xb4, 0x24,  //     6 lease 0x1234
            0x5a, 0x11,  // 11 events, 17 bytes
            0x08, 0x01,  //   1 type DELETE
            0x12, 0x05,  //   2 kv, 5 bytes
            0x0a, 0x01, 0x6b,  //     1 key "k"
            0x18, 0x06,  //     3 mod_revision 6
            0x1a, 0x06,  //   3 prev_kv, 6 bytes
            0x0a, 0x01, 0x6b,  //     1 key "k"
            0x2a, 0x01, 0x76,  //     5 value "v"
        ]
        let response = try Etcdserverpb_WatchResponse(serializedBytes: bytes)

        #expect(response.header.clusterID == 1)
        #expect(response.header.memberID == 2)
        #expect(response.header.revision == 5)
        #expect(response.header.raftTerm == 3)
        #expect(response.watchID == 7)
        #expect(!response.created)
        #expect(!response.canceled)
        #expect(response.events.count == 2)

        let put = try #require(response.events.first)
        #expect(put.type == .put)
        #expect(put.kv.key == Data("k".utf8))
        #expect(put.kv.createRevision == 4)
        #expect(put.kv.modRevision == 5)
        #expect(put.kv.version == 2)
        #expect(put.kv.value == Data("v".utf8))
        #expect(put.kv.lease == 0x1234)
        #expect(!put.hasPrevKv)

        let delete = try #require(response.events.last)
        #expect(delete.type == .delete)
        #expect(delete.kv.key == Data("k".utf8))
        #expect(delete.kv.modRevision == 6)
        #expect(delete.hasPrevKv)
        #expect(delete.prevKv.value == Data("v".utf8))

        // Fields in number order, nothing unknown: encoding gives the same bytes back.
        let reencoded: [UInt8] = try response.serializedBytes()
        #expect(reencoded == bytes)
    }
}
