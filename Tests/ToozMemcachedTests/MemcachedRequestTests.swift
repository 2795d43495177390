import NIOCore
import Testing
import Tooz
import ToozMemcached

@Suite("MemcachedRequest")
struct MemcachedRequestTests {
    static func text(_ request: MemcachedRequest) -> String { String(buffer: request.encoded) }

    @Test func getFlags() throws {
        #expect(Self.text(try .get("k")) == "mg k v f c\r\n")
        #expect(Self.text(try .get("k", value: false, clientFlags: false, cas: false)) == "mg k\r\n")
        #expect(Self.text(try .get("k", ttl: true)) == "mg k v f c t\r\n")
        #expect(Self.text(try .get("k", value: false, cas: false, touch: 30)) == "mg k f T30\r\n")
        #expect(Self.text(try .get("a/b:c", ttl: true, touch: 0)) == "mg a/b:c v f c t T0\r\n")
        #expect(try MemcachedRequest.get("k").name == "mg")
    }

    @Test func setModesAndCAS() throws {
        let value = Array("hello".utf8)
        #expect(Self.text(try .set("k", value: value, clientFlags: 7, ttl: 30)) == "ms k 5 F7 T30 c\r\nhello\r\n")
        #expect(Self.text(try .set("k", value: value, clientFlags: 0, ttl: 0, mode: .add)) == "ms k 5 F0 T0 ME c\r\nhello\r\n")
        #expect(Self.text(try .set("k", value: value, clientFlags: 0, ttl: 0, mode: .replace, returnCAS: false)) == "ms k 5 F0 T0 MR\r\nhello\r\n")
        #expect(Self.text(try .set("k", value: value, clientFlags: 0, ttl: 0, mode: .append)) == "ms k 5 F0 T0 MA c\r\nhello\r\n")
        #expect(Self.text(try .set("k", value: value, clientFlags: 0, ttl: 0, mode: .prepend)) == "ms k 5 F0 T0 MP c\r\nhello\r\n")
        #expect(
            Self.text(try .set("k", value: value, clientFlags: UInt32.max, ttl: 2_592_000, compareCAS: 12_345))
                == "ms k 5 F4294967295 T2592000 C12345 c\r\nhello\r\n"
        )
        // Values are binary: CR LF and NUL inside are sent as they are, after the length.
        let binary: [UInt8] = [0, 13, 10, 255]
        var expected = ByteBuffer(string: "ms k 4 F1 T5 c\r\n")
        expected.writeBytes(binary)
        expected.writeString("\r\n")
        #expect(try MemcachedRequest.set("k", value: binary, clientFlags: 1, ttl: 5).encoded == expected)
        #expect(Self.text(try .set("k", value: [], clientFlags: 0, ttl: 0)) == "ms k 0 F0 T0 c\r\n\r\n")
    }

    @Test func setNeverKeepsTheValue() throws {
        let request = try MemcachedRequest.set("k", value: Array("secret".utf8), clientFlags: 0, ttl: 0)
        #expect(request.name == "ms")
        #expect(!String(describing: request.name).contains("secret"))
    }

    @Test func deleteIncrementNoop() throws {
        #expect(Self.text(try .delete("k")) == "md k\r\n")
        #expect(Self.text(try .delete("k", compareCAS: 99)) == "md k C99\r\n")
        #expect(Self.text(try .increment("n")) == "ma n D1 v\r\n")
        #expect(Self.text(try .increment("n", delta: 5)) == "ma n D5 v\r\n")
        #expect(Self.text(try .increment("n", initial: 10, createTTL: 60)) == "ma n N60 J10 D1 v\r\n")
        #expect(Self.text(try .increment("n", delta: 2, initial: 0)) == "ma n N0 J0 D2 v\r\n")
        #expect(Self.text(.noop) == "mn\r\n")
        #expect(MemcachedRequest.noop.name == "mn")
    }

    @Test(arguments: ["", String(repeating: "x", count: 251), "a b", "a\tb", "a\r\nb", "a\u{7F}", "\u{01}"])
    func badKeysAreRefused(key: String) throws {
        let builds: [() throws -> Void] = [
            { _ = try MemcachedRequest.get(key) },
            { _ = try MemcachedRequest.set(key, value: [1], clientFlags: 0, ttl: 0) },
            { _ = try MemcachedRequest.delete(key) },
            { _ = try MemcachedRequest.increment(key) },
        ]
        for build in builds {
            let error = #expect(throws: ToozError.self) { try build() }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func longestAndNonASCIIKeysAreAccepted() throws {
        #expect(try MemcachedRequest.get(String(repeating: "k", count: 250)).encoded.readableBytes == 3 + 250 + 8)
        #expect(Self.text(try .delete("clé")) == "md clé\r\n")
    }

    @Test(arguments: [-1, 2_592_001, Int.max, Int.min])
    func badTTLsAreRefused(ttl: Int) throws {
        let builds: [() throws -> Void] = [
            { _ = try MemcachedRequest.set("k", value: [], clientFlags: 0, ttl: ttl) },
            { _ = try MemcachedRequest.get("k", touch: ttl) },
            { _ = try MemcachedRequest.increment("k", initial: 0, createTTL: ttl) },
        ]
        for build in builds {
            let error = #expect(throws: ToozError.self) { try build() }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("TTL") == true)
        }
    }
}
