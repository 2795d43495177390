import NIOCore

@testable import ToozMemcached

// Feeds the input to MemcachedDecoder as a reply stream, whole and cut in two (see
// splitPoints): the same replies, then the same error or the same bytes left waiting, whatever
// the cut. The default limits are beyond what a short input reaches, so the same runs are
// repeated with tight ones.

/// Limits small enough for fuzzed inputs to cross both.
private let tightLimits = MemcachedDecoder.Limits(maximumLineLength: 32, maximumValueLength: 64)

/// What decoding a stream to its end gave.
private struct Outcome: Equatable {
    var responses: [MemcachedResponse] = []
    var error: MemcachedDecodingError?
    /// Bytes left unread when the decoder asked for more.
    var waiting = 0
}

private func decodeStream(_ chunks: [ByteBuffer], limits: MemcachedDecoder.Limits) -> Outcome {
    var decoder = MemcachedDecoder(limits: limits)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    for var chunk in chunks {
        buffer.writeBuffer(&chunk)
        do {
            while true {
                let start = buffer.readerIndex
                guard let response = try decoder.decode(buffer: &buffer) else {
                    precondition(buffer.readerIndex == start, "MemcachedDecoder returned nil but consumed bytes")
                    break
                }
                precondition(buffer.readerIndex > start, "MemcachedDecoder returned a reply without consuming bytes")
                outcome.responses.append(response)
            }
        } catch let error as MemcachedDecodingError {
            outcome.error = error
            return outcome
        } catch {
            preconditionFailure("MemcachedDecoder threw something other than MemcachedDecodingError: \(error)")
        }
    }
    outcome.waiting = buffer.readableBytes
    return outcome
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

private func check(_ input: ByteBuffer, limits: MemcachedDecoder.Limits) {
    let count = input.readableBytes
    let whole = decodeStream([input], limits: limits)
    for split in splitPoints(input) {
        let head = input.getSlice(at: input.readerIndex, length: split)!
        let tail = input.getSlice(at: input.readerIndex + split, length: count - split)!
        let outcome = decodeStream([head, tail], limits: limits)
        precondition(outcome == whole, "split at \(split) decodes differently: \(outcome) vs \(whole)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMemcached(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    check(input, limits: MemcachedDecoder.Limits())
    check(input, limits: tightLimits)
    return 0
}
