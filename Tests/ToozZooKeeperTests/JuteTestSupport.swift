import NIOCore
import Testing
import Tooz

@testable import ToozZooKeeper

/// Builds expected jute bytes by hand, field by field, independently of ``JuteWriter``.
struct JuteBytes {
    var bytes: [UInt8] = []

    func int(_ value: Int32) -> JuteBytes {
        var copy = self
        copy.bytes += withUnsafeBytes(of: value.bigEndian, Array.init)
        return copy
    }

    func long(_ value: Int64) -> JuteBytes {
        var copy = self
        copy.bytes += withUnsafeBytes(of: value.bigEndian, Array.init)
        return copy
    }

    func bool(_ value: Bool) -> JuteBytes {
        var copy = self
        copy.bytes.append(value ? 1 : 0)
        return copy
    }

    func buffer(_ value: [UInt8]?) -> JuteBytes {
        guard let value else { return self.int(-1) }
        var copy = self.int(Int32(value.count))
        copy.bytes += value
        return copy
    }

    func string(_ value: String?) -> JuteBytes {
        self.buffer(value.map { Array($0.utf8) })
    }

    func raw(_ value: [UInt8]) -> JuteBytes {
        var copy = self
        copy.bytes += value
        return copy
    }

    func stat(_ stat: ZooKeeperStat) -> JuteBytes {
        self.long(stat.czxid).long(stat.mzxid).long(stat.ctime).long(stat.mtime)
            .int(stat.version).int(stat.cversion).int(stat.aversion).long(stat.ephemeralOwner)
            .int(stat.dataLength).int(stat.numChildren).long(stat.pzxid)
    }

    /// The bytes with a 4-byte big-endian length prefix in front.
    var framed: [UInt8] { JuteBytes().int(Int32(self.bytes.count)).bytes + self.bytes }

    var byteBuffer: ByteBuffer { ByteBuffer(bytes: self.bytes) }
}

/// A stat with a distinct value in every field, so that a swapped field shows.
let sampleStat = ZooKeeperStat(
    czxid: 0x0102_0304_0506_0708, mzxid: 0x1112_1314_1516_1718, ctime: 1_700_000_000_123, mtime: 1_700_000_000_456,
    version: 3, cversion: 4, aversion: 5, ephemeralOwner: 0x7fff_0000_0000_0001, dataLength: 6, numChildren: 7,
    pzxid: 0x2122_2324_2526_2728
)

func encoded(_ record: some JuteEncodable) throws -> [UInt8] {
    var writer = JuteWriter()
    try record.encode(to: &writer)
    return Array(writer.buffer.readableBytesView)
}

func decoded<Record: JuteDecodable>(_: Record.Type, _ bytes: [UInt8]) throws(ToozError) -> Record {
    var reader = JuteReader(buffer: ByteBuffer(bytes: bytes))
    let record = try Record(from: &reader)
    try reader.expectEnd(of: "\(Record.self)")
    return record
}

/// Encodes `record`, compares with `expected`, decodes `expected` back and compares with
/// `record`; then checks that every truncation fails cleanly, except those at or after
/// `optionalTailFrom` (a trailing optional field).
func expectRoundTrip<Record: JuteRecord & Equatable>(
    _ record: Record,
    _ expected: JuteBytes,
    optionalTailFrom: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(try encoded(record) == expected.bytes, "encoding of \(Record.self)", sourceLocation: sourceLocation)
    #expect(try decoded(Record.self, expected.bytes) == record, "decoding of \(Record.self)", sourceLocation: sourceLocation)
    for length in 0..<expected.bytes.count where length < (optionalTailFrom ?? .max) {
        let error = #expect(throws: ToozError.self, "\(Record.self) cut at \(length)", sourceLocation: sourceLocation) {
            _ = try decoded(Record.self, Array(expected.bytes.prefix(length)))
        }
        #expect(error?.code == .backendError, sourceLocation: sourceLocation)
    }
}
