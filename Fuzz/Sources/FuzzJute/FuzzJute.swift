import NIOCore
import Tooz

@testable import ToozZooKeeper

// Feeds the input to ZooKeeperFrameDecoder as a stream (whole, and cut in two as splitPoints
// says: the same frames either way), then reads every frame that comes out the way the
// session would: as a ConnectResponse, and as a ReplyHeader followed by a watcher event or the
// body of each request type the client sends. A frame that decodes must re-encode into bytes
// that decode to the same record.

/// What splitting a stream into frames gave.
private struct Framing: Equatable {
    var frames: [ByteBuffer] = []
    var error: ToozError?
    /// Bytes left unread when the decoder asked for more.
    var waiting = 0
}

private func frames(of chunks: [ByteBuffer], maximumFrameLength: Int) -> Framing {
    var decoder = ZooKeeperFrameDecoder(maximumFrameLength: maximumFrameLength)
    var buffer = ByteBuffer()
    var framing = Framing()
    for var chunk in chunks {
        buffer.writeBuffer(&chunk)
        do {
            while true {
                let start = buffer.readerIndex
                guard let frame = try decoder.decode(buffer: &buffer) else {
                    precondition(buffer.readerIndex == start, "ZooKeeperFrameDecoder returned nil but consumed bytes")
                    break
                }
                precondition(buffer.readerIndex > start, "ZooKeeperFrameDecoder returned a frame but consumed nothing")
                framing.frames.append(frame)
            }
        } catch let error as ToozError {
            framing.error = error
            return framing
        } catch {
            preconditionFailure("ZooKeeperFrameDecoder threw something other than ToozError: \(error)")
        }
    }
    framing.waiting = buffer.readableBytes
    return framing
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

/// The request types whose replies the session decodes.
private let replyOpCodes: [ZooKeeperOpCode] = [
    .create, .create2, .delete, .exists, .getData, .setData, .getChildren2, .multi,
]

private func reencoded(_ write: (inout JuteWriter) throws(ToozError) -> Void) -> JuteReader {
    var writer = JuteWriter()
    do {
        try write(&writer)
    } catch {
        preconditionFailure("a decoded record failed to re-encode: \(error)")
    }
    return JuteReader(buffer: writer.buffer)
}

private func checkRoundTrip<Record: JuteRecord & Equatable>(_ record: Record) {
    var reader = reencoded { (writer) throws(ToozError) in try writer.writeRecord(record) }
    do {
        let again = try reader.readRecord(Record.self)
        try reader.expectEnd(of: "\(Record.self)")
        precondition(again == record, "\(Record.self) changed in a round trip: \(record) then \(again)")
    } catch {
        preconditionFailure("re-encoded \(Record.self) failed to decode: \(error)")
    }
}

private func checkRoundTrip(_ response: ZooKeeperResponse, for opCode: ZooKeeperOpCode) {
    var reader = reencoded { (writer) throws(ToozError) in
        switch response {
        case .created(let path): try writer.writeRecord(ZooKeeperCreateResponse(path: path))
        case .created2(let body): try writer.writeRecord(body)
        case .deleted: break
        case .stat(let stat): try writer.writeRecord(ZooKeeperStatResponse(stat: stat))
        case .data(let body): try writer.writeRecord(body)
        case .children(let body): try writer.writeRecord(body)
        case .multi(let body): try writer.writeRecord(body)
        }
    }
    do {
        let again = try ZooKeeperResponse.decode(for: opCode, from: &reader)
        precondition(again == response, "\(opCode) reply changed in a round trip: \(response) then \(again)")
    } catch {
        preconditionFailure("re-encoded \(opCode) reply failed to decode: \(error)")
    }
}

/// Decoders report malformed replies as ToozError, which `throws(ToozError)` already ensures;
/// what matters here is that they return at all.
private func readReplies(in frame: ByteBuffer) {
    var handshake = JuteReader(buffer: frame)
    if let response = try? handshake.readRecord(ZooKeeperConnectResponse.self),
        (try? handshake.expectEnd(of: "ConnectResponse")) != nil
    {
        checkRoundTrip(response)
    }

    var reader = JuteReader(buffer: frame)
    guard let header = try? reader.readRecord(ZooKeeperReplyHeader.self) else { return }
    checkRoundTrip(header)

    var notification = reader
    if let event = try? notification.readRecord(ZooKeeperWatcherEvent.self),
        (try? notification.expectEnd(of: "watcher event")) != nil
    {
        checkRoundTrip(event)
    }

    for opCode in replyOpCodes {
        var body = reader
        if let response = try? ZooKeeperResponse.decode(for: opCode, from: &body) {
            checkRoundTrip(response, for: opCode)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJute(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    // The default limit (4 MiB) is beyond any fuzzed input; a tight one checks the limit itself.
    for maximumFrameLength in [ZooKeeperFrameDecoder.defaultMaximumFrameLength, 64] {
        let whole = frames(of: [input], maximumFrameLength: maximumFrameLength)
        for split in splitPoints(input) {
            let head = input.getSlice(at: input.readerIndex, length: split)!
            let tail = input.getSlice(at: input.readerIndex + split, length: count - split)!
            let framing = frames(of: [head, tail], maximumFrameLength: maximumFrameLength)
            precondition(framing == whole, "split at \(split) frames differently: \(framing) vs \(whole)")
        }
    }
    for frame in frames(of: [input], maximumFrameLength: ZooKeeperFrameDecoder.defaultMaximumFrameLength).frames {
        readReplies(in: frame)
    }
    return 0
}
