import Foundation

/// Builders for the requests the backend sends, so that each operation reads as what it does.
enum EtcdOperations {
    static func compare(
        _ key: [UInt8], rangeEnd: [UInt8]? = nil, _ target: Etcdserverpb_Compare.CompareTarget,
        _ result: Etcdserverpb_Compare.CompareResult, _ value: Int64
    ) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key)
        if let rangeEnd { compare.rangeEnd = Data(rangeEnd) }
        compare.target = target
        compare.result = result
        switch target {
        case .version: compare.version = value
        case .create: compare.createRevision = value
        case .mod: compare.modRevision = value
        case .lease: compare.lease = value
        default: break
        }
        return compare
    }

    static func rangeRequest(_ key: [UInt8], rangeEnd: [UInt8]? = nil, keysOnly: Bool = false, countOnly: Bool = false) -> Etcdserverpb_RangeRequest {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key)
        if let rangeEnd { request.rangeEnd = Data(rangeEnd) }
        request.keysOnly = keysOnly
        request.countOnly = countOnly
        return request
    }

    static func range(_ key: [UInt8], rangeEnd: [UInt8]? = nil, keysOnly: Bool = false, countOnly: Bool = false) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        op.requestRange = rangeRequest(key, rangeEnd: rangeEnd, keysOnly: keysOnly, countOnly: countOnly)
        return op
    }

    static func put(_ key: [UInt8], value: [UInt8], lease: Int64 = 0, ignoreLease: Bool = false) -> Etcdserverpb_RequestOp {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key)
        request.value = Data(value)
        request.lease = lease
        request.ignoreLease = ignoreLease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = request
        return op
    }

    static func delete(_ key: [UInt8]) -> Etcdserverpb_RequestOp {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key)
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = request
        return op
    }

    static func txn(
        _ compare: [Etcdserverpb_Compare], success: [Etcdserverpb_RequestOp], failure: [Etcdserverpb_RequestOp] = []
    ) -> Etcdserverpb_TxnRequest {
        var request = Etcdserverpb_TxnRequest()
        request.compare = compare
        request.success = success
        request.failure = failure
        return request
    }
}

extension Etcdserverpb_TxnResponse {
    /// The key-values of the `index`-th operation's range (empty for any other operation).
    func kvs(at index: Int) -> [Mvccpb_KeyValue] {
        guard responses.indices.contains(index) else { return [] }
        return responses[index].responseRange.kvs
    }
}
