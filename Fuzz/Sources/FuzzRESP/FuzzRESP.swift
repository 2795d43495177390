import NIOCore

@testable import ToozRedis

// Feeds the input to RESPDecoder as a reply stream, whole and cut in two (see splitPoints).
// An incremental decoder must not care where TCP cut the stream: the same values, then the same
// error or the same bytes left waiting, whatever the split. Keeping attributes must give the
// same replies once they are stripped. The default limits are beyond what a short input
// reaches (but for nesting), so the same runs are repeated with tight ones.

/// Limits small enough for fuzzed inputs to cross every one of them.
private let tightLimits = RESPDecoder.Limits(
    maximumBulkLength: 64, maximumNestingDepth: 4, maximumAggregateCount: 16, maximumLineLength: 32
)

/// What decoding a stream to its end gave.
private struct Outcome: Equatable {
    var values: [RESPValue] = []
    var error: RESPDecodingError?
    /// Bytes left unread when the decoder asked for more.
    var waiting = 0
}

private func decodeStream(_ chunks: [ByteBuffer], limits: RESPDecoder.Limits, keepsAttributes: Bool = false)
    -> Outcome
{
    var decoder = RESPDecoder(limits: limits, keepsAttributes: keepsAttributes)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    for var chunk in chunks {
        buffer.writeBuffer(&chunk)
        do {
            while true {
                let start = buffer.readerIndex
                guard let value = try decoder.decode(buffer: &buffer) else {
                    precondition(buffer.readerIndex == start, "RESPDecoder returned nil but consumed bytes")
                    break
                }
                precondition(buffer.readerIndex > start, "RESPDecoder returned a value without consuming bytes")
                outcome.values.append(value)
            }
        } catch let error as RESPDecodingError {
            outcome.error = error
            return outcome
        } catch {
            preconditionFailure("RESPDecoder threw something other than RESPDecodingError: \(error)")
        }
    }
    outcome.waiting = buffer.readableBytes
    return outcome
}

private func strippingAttributes(_ value: RESPValue) -> RESPValue {
    switch value {
    case .attributed(_, let inner): strippingAttributes(inner)
    case .array(let elements?): .array(elements.map(strippingAttributes))
    case .set(let elements): .set(elements.map(strippingAttributes))
    case .push(let elements): .push(elements.map(strippingAttributes))
    case .map(let entries):
        .map(entries.map { RESPMapEntry(key: strippingAttributes($0.key), value: strippingAttributes($0.value)) })
    default: value
    }
}

/// Eight boundaries drawn from a hash of the input (every one of a short input). Cutting at all
/// of them on every run made the run 60 times slower; with the cuts drawn this way a crash still
/// replays, and every mutation of an input moves them. The regression tests cut the committed
/// inputs at every boundary.
private func splitPoints(_ input: ByteBuffer) -> [Int] {
    let count = input.readableBytes
    guard count > 1 else { return [] }
    if count <= 9 { return Array(1..<count) }
    // FNV-1a of the input seeds the draw.
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in input.readableBytesView {
        state = (state ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    var points: Set<Int> = []
    for _ in 0..<8 {
        // SplitMix64.
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        mixed ^= mixed >> 31
        points.insert(1 + Int(mixed % UInt64(count - 1)))
    }
    return points.sorted()
}

private func check(_ input: ByteBuffer, limits: RESPDecoder.Limits) {
    let count = input.readableBytes
    let whole = decodeStream([input], limits: limits)
    for split in splitPoints(input) {
        let head = input.getSlice(at: input.readerIndex, length: split)!
        let tail = input.getSlice(at: input.readerIndex + split, length: count - split)!
        let outcome = decodeStream([head, tail], limits: limits)
        precondition(outcome == whole, "split at \(split) decodes differently: \(outcome) vs \(whole)")
    }
    var kept = decodeStream([input], limits: limits, keepsAttributes: true)
    kept.values = kept.values.map(strippingAttributes)
    precondition(kept == whole, "keeping attributes changes the replies: \(kept) vs \(whole)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    check(input, limits: RESPDecoder.Limits())
    check(input, limits: tightLimits)
    return 0
}
