import Testing
import ToozTestKit

@testable import Tooz

/// Replays the FuzzMsgPack seed corpus and every crasher scripts/fuzz kept through the path the
/// fuzz target takes: decode, and for a value, encode and decode again.
@Suite("oslo msgpack fuzz regressions")
struct OsloMsgPackFuzzRegressionTests {
    /// Decodes `bytes`; for a value, checks that it survives an encode and decode, byte for byte.
    static func decodeAndRoundTrip(
        _ bytes: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws(ToozError) -> MessagePackValue {
        let value = try OsloMsgPack.decode(bytes)
        let encoded = OsloMsgPack.encode(value)
        #expect(OsloMsgPack.encode(try OsloMsgPack.decode(encoded)) == encoded, sourceLocation: sourceLocation)
        return value
    }

    @Test("every seed decodes and survives a round trip")
    func seedCorpus() throws {
        let seeds = try FuzzFixtures.seeds(of: "FuzzMsgPack")
        #expect(seeds.count >= 8)
        for seed in seeds {
            #expect(throws: Never.self, "\(seed)") { _ = try Self.decodeAndRoundTrip(seed.bytes) }
        }
    }

    @Test("the member record seed reads as Python tooz wrote it, and re-encodes to the same bytes")
    func memberRecordSeed() throws {
        let seed = try #require(try FuzzFixtures.seeds(of: "FuzzMsgPack").first { $0.name == "member-record" })
        let record = try Self.decodeAndRoundTrip(seed.bytes)
        #expect(record["capabilities"] == ["weight": 3, "name": "hello", "blob": .binary([0x00, 0xff])])
        #expect(record.encoded == seed.bytes)
    }

    /// The one path where the decoder recurses: a datetime's payload is a document of its own,
    /// which may itself be an extension. Each level costs a few stack frames, so the depth limit
    /// must stop this chain before a pool thread's stack runs out.
    @Test("datetime extensions nested past the depth limit fail, on a pool thread's stack")
    func nestedDateTimeExtensions() async throws {
        func chain(_ levels: Int) -> [UInt8] {
            var bytes: [UInt8] = [0xc0]
            for _ in 0..<levels {
                bytes = OsloMsgPack.encode(.extension(type: OsloMsgPack.dateTimeExtensionType, data: bytes))
            }
            return bytes
        }
        let cases = [(OsloMsgPack.maximumDepth, "does not hold a map"), (4096, "nesting deeper than 512")]
        for (levels, fragment) in cases {
            let input = chain(levels)
            let error = await Task.detached {
                #expect(throws: ToozError.self) { _ = try OsloMsgPack.decode(input) }
            }.value
            #expect(error?.message.contains(fragment) == true, "\(levels) levels: \(error?.message.prefix(200) ?? "")")
        }
    }

    /// A fragment of the error each kept crasher must now fail with, by file name.
    static let crasherErrors: [String: String] = [:]

    @Test("every kept crasher ends in the error its fix chose")
    func keptCrashers() throws {
        for crasher in try FuzzFixtures.crashers(of: "FuzzMsgPack") {
            guard let fragment = Self.crasherErrors[crasher.name] else {
                Issue.record("no expectation for the crasher \(crasher); add one to crasherErrors")
                continue
            }
            let error = #expect(throws: ToozError.self, "\(crasher)") { _ = try Self.decodeAndRoundTrip(crasher.bytes) }
            #expect(error?.code == .serializationFailed, "\(crasher)")
            #expect(error?.message.contains(fragment) == true, "\(crasher): \(error?.message ?? "")")
        }
    }
}
