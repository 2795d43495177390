import Testing

@testable import Tooz

@Suite struct MD5Tests {
    /// RFC 1321, appendix A.5.
    @Test func rfc1321Vectors() {
        let vectors: [(String, String)] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f"
            ),
            (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (message, digest) in vectors {
            #expect(MD5.hexDigest(Array(message.utf8)) == digest, "md5(\(message.debugDescription))")
            #expect(MD5(message.utf8).hexDigest == digest)
        }
    }

    @Test func digestBytes() {
        #expect(MD5.hash(Array("abc".utf8)) == [
            0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72,
        ])
        #expect(MD5.hash([UInt8]()).count == MD5.digestByteCount)
    }

    /// Padding edge cases around the 56- and 64-byte boundaries (from Python's hashlib).
    @Test func blockBoundaries() {
        let vectors: [(Int, String)] = [
            (55, "6912ee65fff2d9f9ce2508cddf8bcda0"),
            (56, "51fdd1acda72405dfdfa03fcb85896d7"),
            (57, "5320ef4c17ef34a0cf2db763338d25eb"),
            (63, "48a6295221902e8e0938f773a7185e72"),
            (64, "b2d3f56bc197fd985d5965079b5e7148"),
            (65, "8bd7053801c768420faf816fadba971c"),
            (119, "1c772251899a7ff007400b888d6b2042"),
            (120, "b7ba1efc6022e9ed272f00b8831e26e6"),
            (127, "8402b21e7bc7906493bae0dac017f1f9"),
            (128, "37eff01866ba3f538421b30b7cbefcac"),
            (129, "46f986692847558fc38b0cece591c20f"),
        ]
        for (length, digest) in vectors {
            let message = (0..<length).map { UInt8($0 % 251) }
            #expect(MD5.hexDigest(message) == digest, "length \(length)")
        }
    }

    @Test func millionAs() {
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        var hasher = MD5()
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.hexDigest == "7707d6ae4e027c70eea2a935c2296f21")
    }

    /// Any split of the input gives the same digest as hashing it at once.
    @Test func incrementalSplits() {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let expected = MD5.hash(message)
        for first in [0, 1, 55, 63, 64, 65, 100, 128, 199, 200] {
            for second in [first, min(first + 1, 200), min(first + 64, 200), 200] {
                var hasher = MD5()
                hasher.update(message[0..<first])
                hasher.update(message[first..<second])
                hasher.update(message[second...])
                #expect(hasher.finalize() == expected, "split at \(first), \(second)")
            }
        }
        // Non-contiguous sequences take the copying path.
        var lazy = MD5()
        lazy.update(message.lazy.map { $0 })
        #expect(lazy.finalize() == expected)
    }

    /// `finalize()` must not reset the state: the hash ring reads a digest after every update,
    /// as Python does with `h.update(key); h.hexdigest()`.
    @Test func finalizeDoesNotReset() {
        var hasher = MD5(Array("foo".utf8))
        hasher.update(Array("foo".utf8))
        #expect(hasher.hexDigest == "fdba98970961edb29f88241b9d99d890")
        #expect(hasher.hexDigest == "fdba98970961edb29f88241b9d99d890")
        hasher.update(Array("foo".utf8))
        #expect(hasher.hexDigest == "216d7c020d0732def6775af81f6dc44f")
    }

    @Test func bigEndianHalves() {
        // int(md5(b'fake').hexdigest(), 16) = 26982377804022547213425711119629984148 (reference §1.12)
        // = 0x144c9defac04969c_7bfad8efaa8ea194.
        let halves = MD5(Array("fake".utf8)).finalizeBigEndian()
        #expect(halves.high == 0x144c_9def_ac04_969c)
        #expect(halves.low == 0x7bfa_d8ef_aa8e_a194)
        #expect(MD5.hexDigest(Array("fake".utf8)) == "144c9defac04969c7bfad8efaa8ea194")
    }

    /// The `ipc://` key derivation hashes `project + name` (reference §2.6):
    /// int(md5(b'__TOOZ_LOCK_foo').hexdigest(), 16) = 157488860943347908468687258880978503584.
    @Test func ipcKeyDigest() {
        let halves = MD5(Array("__TOOZ_LOCK_foo".utf8)).finalizeBigEndian()
        #expect(halves.high == 0x767b_4056_7ef5_1e6c)
        #expect(halves.low == 0x68c9_79d2_12c4_c7a0)
    }
}
