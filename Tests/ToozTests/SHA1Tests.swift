import Testing

@testable import Tooz

@Suite struct SHA1Tests {
    /// RFC 3174 section 7.3 and FIPS 180 examples, plus the RFC 1321 strings checked against hashlib.
    @Test func standardVectors() {
        let vectors: [(String, String)] = [
            ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            ("a", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
            ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            ("message digest", "c12252ceda8be8994d5fa0290a47231c1d16aae3"),
            ("abcdefghijklmnopqrstuvwxyz", "32d10c7b8cf96570ca04ce37f2a19d84240d3a89"),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "761c457bf73b14d27e9e9265c46f4b4dda11f940"
            ),
            (String(repeating: "1234567890", count: 8), "50abf5706a150990a08b2c5ea40fa0e585554732"),
        ]
        for (message, digest) in vectors {
            #expect(SHA1.hexDigest(Array(message.utf8)) == digest, "sha1(\(message.debugDescription))")
            #expect(SHA1(message.utf8).hexDigest == digest)
        }
    }

    /// RFC 3174 test 4: "0123456701234567012345670123456701234567012345670123456701234567" × 10.
    @Test func rfc3174RepeatedInput() {
        var hasher = SHA1()
        for _ in 0..<10 {
            hasher.update(Array("0123456701234567012345670123456701234567012345670123456701234567".utf8))
        }
        #expect(hasher.hexDigest == "dea356a2cddd90c7a7ecedc5ebb563934f460452")
    }

    @Test func millionAs() {
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        var hasher = SHA1()
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.hexDigest == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func blockBoundaries() {
        let vectors: [(Int, String)] = [
            (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
            (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
            (57, "7cb1330f35244b57437539253304ea78a6b7c443"),
            (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
            (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
            (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
            (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
            (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
            (127, "89d7312a903f65cd2b3e34a975e55dbea9033353"),
            (128, "e6434bc401f98603d7eda504790c98c67385d535"),
            (129, "3352e41cc30b40ae80108970492b21014049e625"),
        ]
        for (length, digest) in vectors {
            let message = (0..<length).map { UInt8($0 % 251) }
            #expect(SHA1.hexDigest(message) == digest, "length \(length)")
        }
    }

    @Test func incrementalSplits() {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let expected = SHA1.hash(message)
        #expect(expected.count == SHA1.digestByteCount)
        for first in [0, 1, 55, 63, 64, 65, 100, 128, 199, 200] {
            for second in [first, min(first + 1, 200), min(first + 64, 200), 200] {
                var hasher = SHA1()
                hasher.update(message[0..<first])
                hasher.update(message[first..<second])
                hasher.update(message[second...])
                #expect(hasher.finalize() == expected, "split at \(first), \(second)")
            }
        }
        var hasher = SHA1(message[0..<10])
        _ = hasher.finalize()
        hasher.update(message[10...])
        #expect(hasher.finalize() == expected, "finalize must not reset the state")
    }

    /// The file backend's directory and file names (reference §2.5).
    @Test func fileBackendNames() {
        #expect(SHA1.hexDigest("g1".utf8) == "a46e558d11cb2400bab09c1ca969e615142ef3d6")
        #expect(SHA1.hexDigest("member-1".utf8) == "8b1e49a1b1843b6f0e91cfdfa1ab2d954c0ebe0b")
    }
}
