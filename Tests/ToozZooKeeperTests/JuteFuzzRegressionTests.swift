import NIOCore
import Testing
import Tooz
import ToozTestKit

@testable import ToozZooKeeper

/// Replays the FuzzJute seed corpus and every crasher scripts/fuzz kept through the path the fuzz
/// target takes: the input as a frame stream (whole and split in two at every boundary), then
/// each frame through every reply decoder the session uses.
@Suite("Jute fuzz regressions")
struct JuteFuzzRegressionTests {
    /// What splitting a stream into frames gave.
    struct Framing: Equatable {
        var frames: [ByteBuffer] = []
        var error: ToozError?
        /// Bytes left unread when the decoder asked for more.
        var waiting = 0
    }

    static func frames(of chunks: [[UInt8]]) -> Framing {
        var decoder = ZooKeeperFrameDecoder()
        var buffer = ByteBuffer()
        var framing = Framing()
        for chunk in chunks {
            buffer.writeBytes(chunk)
            do {
                while let frame = try decoder.decode(buffer: &buffer) {
                    framing.frames.append(frame)
                }
            } catch let error as ToozError {
                framing.error = error
                return framing
            } catch {
                Issue.record("ZooKeeperFrameDecoder threw \(error), not a ToozError")
                return framing
            }
        }
        framing.waiting = buffer.readableBytes
        return framing
    }

    /// Frames `bytes` whole, checks that every split into two chunks agrees, and returns the framing.
    static func framesAnySplit(_ bytes: [UInt8]) -> Framing {
        let whole = frames(of: [bytes])
        for split in bytes.indices.dropFirst() {
            #expect(frames(of: [Array(bytes[..<split]), Array(bytes[split...])]) == whole, "split at \(split)")
        }
        return whole
    }

    static let replyOpCodes: [ZooKeeperOpCode] = [
        .create, .create2, .delete, .exists, .getData, .setData, .getChildren2, .multi,
    ]

    /// The names of the decoders that read `frame` whole: `ConnectResponse`, `WatcherEvent`
    /// (after a reply header), or the op code whose reply body follows the header.
    static func decoders(accepting frame: ByteBuffer) -> Set<String> {
        var accepted: Set<String> = []
        var handshake = JuteReader(buffer: frame)
        if (try? handshake.readRecord(ZooKeeperConnectResponse.self)) != nil,
            (try? handshake.expectEnd(of: "ConnectResponse")) != nil
        {
            accepted.insert("ConnectResponse")
        }
        var reader = JuteReader(buffer: frame)
        guard (try? reader.readRecord(ZooKeeperReplyHeader.self)) != nil else { return accepted }
        if reader.isAtEnd { accepted.insert("header only") }
        var notification = reader
        if (try? notification.readRecord(ZooKeeperWatcherEvent.self)) != nil,
            (try? notification.expectEnd(of: "watcher event")) != nil
        {
            accepted.insert("WatcherEvent")
        }
        for opCode in replyOpCodes {
            var body = reader
            if (try? ZooKeeperResponse.decode(for: opCode, from: &body)) != nil {
                accepted.insert("\(opCode)")
            }
        }
        return accepted
    }

    /// What each seed's frames are, in order.
    static let seedFrames: [String: [String]] = [
        "children-reply": ["getChildren2"],
        "connect-response": ["ConnectResponse"],
        "connect-response-no-readonly": ["ConnectResponse"],
        "create2-reply": ["create2"],
        "error-reply": ["header only"],
        "exists-reply": ["exists"],
        "getdata-reply": ["getData"],
        "multi-failed-reply": ["multi"],
        "multi-reply": ["multi"],
        "stream-ping-watch": ["header only", "WatcherEvent", "create"],
    ]

    @Test("every seed splits into whole frames that the reply decoders read, however it is cut")
    func seedCorpus() throws {
        let seeds = try FuzzFixtures.seeds(of: "FuzzJute")
        #expect(Set(seeds.map(\.name)) == Set(Self.seedFrames.keys))
        for seed in seeds {
            let framing = Self.framesAnySplit(seed.bytes)
            #expect(framing.error == nil && framing.waiting == 0, "\(seed): \(framing)")
            let expected = Self.seedFrames[seed.name] ?? []
            #expect(framing.frames.count == expected.count, "\(seed)")
            for (frame, kind) in zip(framing.frames, expected) {
                #expect(Self.decoders(accepting: frame).contains(kind), "\(seed): not read as \(kind)")
            }
        }
    }

    @Test("the connect response seed reads as the server sent it")
    func connectResponseSeed() throws {
        let seed = try #require(try FuzzFixtures.seeds(of: "FuzzJute").first { $0.name == "connect-response" })
        let framing = Self.framesAnySplit(seed.bytes)
        var reader = JuteReader(buffer: try #require(framing.frames.first))
        let response = try reader.readRecord(ZooKeeperConnectResponse.self)
        #expect(reader.isAtEnd)
        let expected = ZooKeeperConnectResponse(
            timeOut: 30_000, sessionID: 0x0100_0123_4567_89ab, password: Array(0..<16), readOnly: false
        )
        #expect(response == expected)
    }

    /// The messages of every error the reply decoders throw on `frame`.
    static func replyErrors(in frame: ByteBuffer) -> [String] {
        var messages: [String] = []
        func record(_ read: () throws(ToozError) -> Void) {
            do { try read() } catch { messages.append(error.message) }
        }
        record { () throws(ToozError) in
            var reader = JuteReader(buffer: frame)
            _ = try reader.readRecord(ZooKeeperConnectResponse.self)
            try reader.expectEnd(of: "ConnectResponse")
        }
        var reader = JuteReader(buffer: frame)
        record { () throws(ToozError) in _ = try reader.readRecord(ZooKeeperReplyHeader.self) }
        record { () throws(ToozError) in
            var notification = reader
            _ = try notification.readRecord(ZooKeeperWatcherEvent.self)
            try notification.expectEnd(of: "watcher event")
        }
        for opCode in replyOpCodes {
            record { () throws(ToozError) in
                var body = reader
                _ = try ZooKeeperResponse.decode(for: opCode, from: &body)
            }
        }
        return messages
    }

    /// A fragment of the error each kept crasher must now end in (from the framing, or from a
    /// reply decoder on one of its frames), by file name.
    static let crasherErrors: [String: String] = [:]

    @Test("every kept crasher ends in the error its fix chose")
    func keptCrashers() throws {
        for crasher in try FuzzFixtures.crashers(of: "FuzzJute") {
            guard let fragment = Self.crasherErrors[crasher.name] else {
                Issue.record("no expectation for the crasher \(crasher); add one to crasherErrors")
                continue
            }
            let framing = Self.framesAnySplit(crasher.bytes)
            let messages = [framing.error?.message].compactMap { $0 } + framing.frames.flatMap(Self.replyErrors)
            #expect(messages.contains { $0.contains(fragment) }, "\(crasher): \(messages)")
        }
    }
}
