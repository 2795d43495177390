import NIOCore
import Testing
import ToozTestKit

@testable import ToozMemcached

/// Replays the FuzzMemcached seed corpus and every crasher scripts/fuzz kept through the path
/// the fuzz target takes: the input as one reply stream, whole and split in two at every boundary.
@Suite("memcached decoder fuzz regressions")
struct MemcachedDecoderFuzzRegressionTests {
    /// What decoding a stream to its end gave.
    struct Outcome: Equatable {
        var responses: [MemcachedResponse] = []
        var error: MemcachedDecodingError?
        /// Bytes left unread when the decoder asked for more.
        var waiting = 0
    }

    static func decodeStream(_ chunks: [[UInt8]], limits: MemcachedDecoder.Limits = .init()) -> Outcome {
        var decoder = MemcachedDecoder(limits: limits)
        var buffer = ByteBuffer()
        var outcome = Outcome()
        for chunk in chunks {
            buffer.writeBytes(chunk)
            do {
                while let response = try decoder.decode(buffer: &buffer) {
                    outcome.responses.append(response)
                }
            } catch let error as MemcachedDecodingError {
                outcome.error = error
                return outcome
            } catch {
                Issue.record("MemcachedDecoder threw \(error), not a MemcachedDecodingError")
                return outcome
            }
        }
        outcome.waiting = buffer.readableBytes
        return outcome
    }

    /// Decodes `bytes` whole, checks that every split into two chunks agrees, and returns the outcome.
    static func decodeAnySplit(_ bytes: [UInt8], limits: MemcachedDecoder.Limits = .init()) -> Outcome {
        let whole = decodeStream([bytes], limits: limits)
        for split in bytes.indices.dropFirst() {
            let outcome = decodeStream([Array(bytes[..<split]), Array(bytes[split...])], limits: limits)
            #expect(outcome == whole, "split at \(split)")
        }
        return whole
    }

    @Test("every seed decodes to complete replies, however it is split")
    func seedCorpus() throws {
        let seeds = try FuzzFixtures.seeds(of: "FuzzMemcached")
        #expect(seeds.count >= 8)
        for seed in seeds {
            let outcome = Self.decodeAnySplit(seed.bytes)
            #expect(outcome.error == nil, "\(seed): \(outcome)")
            #expect(outcome.waiting == 0, "\(seed)")
            #expect(!outcome.responses.isEmpty, "\(seed)")
        }
    }

    @Test("the seed `VA 2 c123` decodes to its value and CAS token")
    func valueSeed() {
        let outcome = Self.decodeAnySplit(Array("VA 2 c123\r\nhi\r\nHD\r\n".utf8))
        let value = MemcachedResponse(.value, value: Array("hi".utf8), cas: 123)
        #expect(outcome.responses == [value, MemcachedResponse(.stored)])
        #expect(outcome.error == nil && outcome.waiting == 0)
    }

    /// FuzzMemcached's second set of limits, small enough for fuzzed inputs to cross.
    static let tightLimits = MemcachedDecoder.Limits(maximumLineLength: 32, maximumValueLength: 64)

    /// The error each kept crasher must now end in (under the default limits or the tight
    /// ones, whichever it crashed under), by file name.
    static let crasherErrors: [String: MemcachedDecodingError.Code] = [:]

    @Test("every kept crasher ends in the decoding error its fix chose")
    func keptCrashers() throws {
        for crasher in try FuzzFixtures.crashers(of: "FuzzMemcached") {
            guard let expected = Self.crasherErrors[crasher.name] else {
                Issue.record("no expectation for the crasher \(crasher); add one to crasherErrors")
                continue
            }
            let codes = [MemcachedDecoder.Limits(), Self.tightLimits].map { limits in
                Self.decodeAnySplit(crasher.bytes, limits: limits).error?.code
            }
            #expect(codes.contains(expected), "\(crasher): \(codes)")
        }
    }
}
