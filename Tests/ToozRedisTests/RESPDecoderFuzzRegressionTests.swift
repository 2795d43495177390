import NIOCore
import Testing
import ToozTestKit

@testable import ToozRedis

/// Replays the FuzzRESP seed corpus and every crasher scripts/fuzz kept through the path the fuzz
/// target takes: the input as one reply stream, whole and split in two at every boundary.
@Suite("RESP decoder fuzz regressions")
struct RESPDecoderFuzzRegressionTests {
    /// What decoding a stream to its end gave.
    struct Outcome: Equatable {
        var values: [RESPValue] = []
        var error: RESPDecodingError?
        /// Bytes left unread when the decoder asked for more.
        var waiting = 0
    }

    static func decodeStream(_ chunks: [[UInt8]], limits: RESPDecoder.Limits = .init()) -> Outcome {
        var decoder = RESPDecoder(limits: limits)
        var buffer = ByteBuffer()
        var outcome = Outcome()
        for chunk in chunks {
            buffer.writeBytes(chunk)
            do {
                while let value = try decoder.decode(buffer: &buffer) {
                    outcome.values.append(value)
                }
            } catch let error as RESPDecodingError {
                outcome.error = error
                return outcome
            } catch {
                Issue.record("RESPDecoder threw \(error), not a RESPDecodingError")
                return outcome
            }
        }
        outcome.waiting = buffer.readableBytes
        return outcome
    }

    /// Decodes `bytes` whole, checks that every split into two chunks agrees, and returns the outcome.
    static func decodeAnySplit(_ bytes: [UInt8], limits: RESPDecoder.Limits = .init()) -> Outcome {
        let whole = decodeStream([bytes], limits: limits)
        for split in bytes.indices.dropFirst() {
            let outcome = decodeStream([Array(bytes[..<split]), Array(bytes[split...])], limits: limits)
            #expect(outcome == whole, "split at \(split)")
        }
        return whole
    }

    @Test("every seed decodes to complete replies, however it is split")
    func seedCorpus() throws {
        let seeds = try FuzzFixtures.seeds(of: "FuzzRESP")
        #expect(seeds.count >= 10)
        for seed in seeds {
            let outcome = Self.decodeAnySplit(seed.bytes)
            #expect(outcome.error == nil, "\(seed): \(outcome)")
            #expect(outcome.waiting == 0, "\(seed)")
            #expect(!outcome.values.isEmpty, "\(seed)")
        }
    }

    /// FuzzRESP's second set of limits, small enough for fuzzed inputs to cross.
    static let tightLimits = RESPDecoder.Limits(
        maximumBulkLength: 64, maximumNestingDepth: 4, maximumAggregateCount: 16, maximumLineLength: 32
    )

    /// The error each kept crasher must now end in (under the default limits or the tight
    /// ones, whichever it crashed under), by file name.
    static let crasherErrors: [String: RESPDecodingError.Code] = [:]

    @Test("every kept crasher ends in the decoding error its fix chose")
    func keptCrashers() throws {
        for crasher in try FuzzFixtures.crashers(of: "FuzzRESP") {
            guard let expected = Self.crasherErrors[crasher.name] else {
                Issue.record("no expectation for the crasher \(crasher); add one to crasherErrors")
                continue
            }
            let codes = [RESPDecoder.Limits(), Self.tightLimits].map { limits in
                Self.decodeAnySplit(crasher.bytes, limits: limits).error?.code
            }
            #expect(codes.contains(expected), "\(crasher): \(codes)")
        }
    }
}
