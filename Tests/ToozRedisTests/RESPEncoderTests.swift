import NIOCore
import Testing

@testable import ToozRedis

@Suite("RESP encoder")
struct RESPEncoderTests {
    private func encoded(_ body: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        body(&buffer)
        return String(buffer: buffer)
    }

    @Test("A command of strings is an array of bulk strings")
    func stringCommand() {
        let wire = encoded { RESPEncoder.encodeCommand(["SET", "key", "value"], into: &$0) }
        #expect(wire == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
    }

    @Test("Lengths count UTF-8 bytes, and binary payloads pass through untouched")
    func binaryAndUnicode() {
        #expect(encoded { RESPEncoder.encodeCommand(["GET", "clé"], into: &$0) } == "*2\r\n$3\r\nGET\r\n$4\r\nclé\r\n")

        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand([[0x00, 0x0D, 0x0A, 0xFF] as [UInt8]], into: &buffer)
        #expect(Array(buffer.readableBytesView) == Array("*1\r\n$4\r\n".utf8) + [0x00, 0x0D, 0x0A, 0xFF] + Array("\r\n".utf8))
    }

    @Test("ByteBuffer and Substring parts")
    func bufferParts() {
        let wire = encoded {
            RESPEncoder.encodeCommand([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: "ch"), ByteBuffer()], into: &$0)
        }
        #expect(wire == "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$0\r\n\r\n")
        let text = "xxPINGxx"
        let part = text.dropFirst(2).dropLast(2)
        #expect(encoded { RESPEncoder.encodeCommand([part], into: &$0) } == "*1\r\n$4\r\nPING\r\n")
    }

    @Test("Mixed parts, integers as decimal text")
    func mixedCommand() {
        let token: [UInt8] = Array("tok".utf8)
        let wire = encoded {
            RESPEncoder.encodeCommand("SET", ByteBuffer(string: "_tooz_lock"), token, "NX", "PX", 30_000, into: &$0)
        }
        #expect(wire == "*6\r\n$3\r\nSET\r\n$10\r\n_tooz_lock\r\n$3\r\ntok\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n30000\r\n")
        #expect(
            encoded { RESPEncoder.encodeCommand("INCRBY", "k", Int64(-5), UInt64.max, into: &$0) }
                == "*4\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$2\r\n-5\r\n$20\r\n18446744073709551615\r\n"
        )
    }

    @Test("An empty command and a command of many parts have exact headers")
    func headers() {
        #expect(encoded { RESPEncoder.encodeCommand([String](), into: &$0) } == "*0\r\n")
        let parts = (0..<12).map { String($0) }
        let wire = encoded { RESPEncoder.encodeCommand(parts, into: &$0) }
        #expect(wire.hasPrefix("*12\r\n$1\r\n0\r\n"))
        #expect(wire.hasSuffix("$2\r\n10\r\n$2\r\n11\r\n"))
        let long = String(repeating: "a", count: 1000)
        #expect(encoded { RESPEncoder.encodeCommand([long], into: &$0) } == "*1\r\n$1000\r\n\(long)\r\n")
    }

    @Test("Commands append to what is already in the buffer, so they pipeline")
    func pipelining() {
        let wire = encoded {
            RESPEncoder.encodeCommand(["PING"], into: &$0)
            RESPEncoder.encodeCommand(["GET", "a"], into: &$0)
        }
        #expect(wire == "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
    }

    @Test("Encoded replies are byte-exact")
    func replies() {
        func wire(_ value: RESPValue) -> String { encoded { RESPEncoder.encode(value, into: &$0) } }
        #expect(wire(.simpleString(ByteBuffer(string: "OK"))) == "+OK\r\n")
        #expect(wire(.integer(-12)) == ":-12\r\n")
        #expect(wire(.bulkString(nil)) == "$-1\r\n")
        #expect(wire(.array(nil)) == "*-1\r\n")
        #expect(wire(.null) == "_\r\n")
        #expect(wire(.double(.infinity)) == ",inf\r\n")
        #expect(wire(.verbatimString(format: "txt", ByteBuffer(string: "hi"))) == "=6\r\ntxt:hi\r\n")
        #expect(
            wire(.push([.bulkString(ByteBuffer(string: "message")), .bulkString(ByteBuffer(string: "c"))]))
                == ">2\r\n$7\r\nmessage\r\n$1\r\nc\r\n"
        )
    }
}
