/// MD5 (RFC 1321), written out in Swift so that `Tooz` needs no crypto dependency.
///
/// tooz uses MD5 for placement, not for security: the hash ring's points and lookups, and the
/// System V key derivation of the `ipc://` backend. Both must agree bit for bit with Python's
/// `hashlib.md5`, so this is the plain algorithm with no shortcuts. Buffering, padding and the
/// value semantics the ring relies on come from ``BlockHasher``.
package typealias MD5 = BlockHasher<MD5State>

extension BlockHasher where State == MD5State {
    /// The digest read as a 128-bit big-endian unsigned integer, split into its high and low
    /// halves: Python's `int(h.hexdigest(), 16)`, without allocating.
    package func finalizeBigEndian() -> (high: UInt64, low: UInt64) {
        let words = finalState()
        // The digest bytes are a, b, c, d in little-endian order, so loading them as two
        // little-endian UInt64 and swapping each gives the big-endian halves.
        let first = UInt64(words.a) | UInt64(words.b) << 32
        let second = UInt64(words.c) | UInt64(words.d) << 32
        return (first.byteSwapped, second.byteSwapped)
    }
}

/// MD5's four-word chaining state and its compression function.
package struct MD5State: BlockCompressionState {
    package static let digestByteCount = 16
    package static let isLittleEndian = true

    var a: UInt32 = 0x6745_2301
    var b: UInt32 = 0xefcd_ab89
    var c: UInt32 = 0x98ba_dcfe
    var d: UInt32 = 0x1032_5476

    package init() {}

    package var digestWords: [UInt32] { [a, b, c, d] }

    /// One 64-byte block. The 64 steps are unrolled, with the constants inline, because
    /// debug builds do not optimise loops and table lookups and the ring hashes a lot.
    package mutating func compress(_ block: UnsafeRawPointer) {
        let x0 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let x1 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let x2 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let x3 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let x4 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let x5 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        let x6 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        let x7 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        let x8 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
        let x9 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
        let x10 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
        let x11 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
        let x12 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 48, as: UInt32.self))
        let x13 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 52, as: UInt32.self))
        let x14 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 56, as: UInt32.self))
        let x15 = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
        var a = self.a
        var b = self.b
        var c = self.c
        var d = self.d
        var t: UInt32

        t = a &+ ((b & c) | (~b & d)) &+ x0 &+ 0xd76aa478
        a = b &+ ((t &<< 7) | (t &>> 25))
        t = d &+ ((a & b) | (~a & c)) &+ x1 &+ 0xe8c7b756
        d = a &+ ((t &<< 12) | (t &>> 20))
        t = c &+ ((d & a) | (~d & b)) &+ x2 &+ 0x242070db
        c = d &+ ((t &<< 17) | (t &>> 15))
        t = b &+ ((c & d) | (~c & a)) &+ x3 &+ 0xc1bdceee
        b = c &+ ((t &<< 22) | (t &>> 10))
        t = a &+ ((b & c) | (~b & d)) &+ x4 &+ 0xf57c0faf
        a = b &+ ((t &<< 7) | (t &>> 25))
        t = d &+ ((a & b) | (~a & c)) &+ x5 &+ 0x4787c62a
        d = a &+ ((t &<< 12) | (t &>> 20))
        t = c &+ ((d & a) | (~d & b)) &+ x6 &+ 0xa8304613
        c = d &+ ((t &<< 17) | (t &>> 15))
        t = b &+ ((c & d) | (~c & a)) &+ x7 &+ 0xfd469501
        b = c &+ ((t &<< 22) | (t &>> 10))
        t = a &+ ((b & c) | (~b & d)) &+ x8 &+ 0x698098d8
        a = b &+ ((t &<< 7) | (t &>> 25))
        t = d &+ ((a & b) | (~a & c)) &+ x9 &+ 0x8b44f7af
        d = a &+ ((t &<< 12) | (t &>> 20))
        t = c &+ ((d & a) | (~d & b)) &+ x10 &+ 0xffff5bb1
        c = d &+ ((t &<< 17) | (t &>> 15))
        t = b &+ ((c & d) | (~c & a)) &+ x11 &+ 0x895cd7be
        b = c &+ ((t &<< 22) | (t &>> 10))
        t = a &+ ((b & c) | (~b & d)) &+ x12 &+ 0x6b901122
        a = b &+ ((t &<< 7) | (t &>> 25))
        t = d &+ ((a & b) | (~a & c)) &+ x13 &+ 0xfd987193
        d = a &+ ((t &<< 12) | (t &>> 20))
        t = c &+ ((d & a) | (~d & b)) &+ x14 &+ 0xa679438e
        c = d &+ ((t &<< 17) | (t &>> 15))
        t = b &+ ((c & d) | (~c & a)) &+ x15 &+ 0x49b40821
        b = c &+ ((t &<< 22) | (t &>> 10))
        t = a &+ ((d & b) | (~d & c)) &+ x1 &+ 0xf61e2562
        a = b &+ ((t &<< 5) | (t &>> 27))
        t = d &+ ((c & a) | (~c & b)) &+ x6 &+ 0xc040b340
        d = a &+ ((t &<< 9) | (t &>> 23))
        t = c &+ ((b & d) | (~b & a)) &+ x11 &+ 0x265e5a51
        c = d &+ ((t &<< 14) | (t &>> 18))
        t = b &+ ((a & c) | (~a & d)) &+ x0 &+ 0xe9b6c7aa
        b = c &+ ((t &<< 20) | (t &>> 12))
        t = a &+ ((d & b) | (~d & c)) &+ x5 &+ 0xd62f105d
        a = b &+ ((t &<< 5) | (t &>> 27))
        t = d &+ ((c & a) | (~c & b)) &+ x10 &+ 0x02441453
        d = a &+ ((t &<< 9) | (t &>> 23))
        t = c &+ ((b & d) | (~b & a)) &+ x15 &+ 0xd8a1e681
        c = d &+ ((t &<< 14) | (t &>> 18))
        t = b &+ ((a & c) | (~a & d)) &+ x4 &+ 0xe7d3fbc8
        b = c &+ ((t &<< 20) | (t &>> 12))
        t = a &+ ((d & b) | (~d & c)) &+ x9 &+ 0x21e1cde6
        a = b &+ ((t &<< 5) | (t &>> 27))
        t = d &+ ((c & a) | (~c & b)) &+ x14 &+ 0xc33707d6
        d = a &+ ((t &<< 9) | (t &>> 23))
        t = c &+ ((b & d) | (~b & a)) &+ x3 &+ 0xf4d50d87
        c = d &+ ((t &<< 14) | (t &>> 18))
        t = b &+ ((a & c) | (~a & d)) &+ x8 &+ 0x455a14ed
        b = c &+ ((t &<< 20) | (t &>> 12))
        t = a &+ ((d & b) | (~d & c)) &+ x13 &+ 0xa9e3e905
        a = b &+ ((t &<< 5) | (t &>> 27))
        t = d &+ ((c & a) | (~c & b)) &+ x2 &+ 0xfcefa3f8
        d = a &+ ((t &<< 9) | (t &>> 23))
        t = c &+ ((b & d) | (~b & a)) &+ x7 &+ 0x676f02d9
        c = d &+ ((t &<< 14) | (t &>> 18))
        t = b &+ ((a & c) | (~a & d)) &+ x12 &+ 0x8d2a4c8a
        b = c &+ ((t &<< 20) | (t &>> 12))
        t = a &+ (b ^ c ^ d) &+ x5 &+ 0xfffa3942
        a = b &+ ((t &<< 4) | (t &>> 28))
        t = d &+ (a ^ b ^ c) &+ x8 &+ 0x8771f681
        d = a &+ ((t &<< 11) | (t &>> 21))
        t = c &+ (d ^ a ^ b) &+ x11 &+ 0x6d9d6122
        c = d &+ ((t &<< 16) | (t &>> 16))
        t = b &+ (c ^ d ^ a) &+ x14 &+ 0xfde5380c
        b = c &+ ((t &<< 23) | (t &>> 9))
        t = a &+ (b ^ c ^ d) &+ x1 &+ 0xa4beea44
        a = b &+ ((t &<< 4) | (t &>> 28))
        t = d &+ (a ^ b ^ c) &+ x4 &+ 0x4bdecfa9
        d = a &+ ((t &<< 11) | (t &>> 21))
        t = c &+ (d ^ a ^ b) &+ x7 &+ 0xf6bb4b60
        c = d &+ ((t &<< 16) | (t &>> 16))
        t = b &+ (c ^ d ^ a) &+ x10 &+ 0xbebfbc70
        b = c &+ ((t &<< 23) | (t &>> 9))
        t = a &+ (b ^ c ^ d) &+ x13 &+ 0x289b7ec6
        a = b &+ ((t &<< 4) | (t &>> 28))
        t = d &+ (a ^ b ^ c) &+ x0 &+ 0xeaa127fa
        d = a &+ ((t &<< 11) | (t &>> 21))
        t = c &+ (d ^ a ^ b) &+ x3 &+ 0xd4ef3085
        c = d &+ ((t &<< 16) | (t &>> 16))
        t = b &+ (c ^ d ^ a) &+ x6 &+ 0x04881d05
        b = c &+ ((t &<< 23) | (t &>> 9))
        t = a &+ (b ^ c ^ d) &+ x9 &+ 0xd9d4d039
        a = b &+ ((t &<< 4) | (t &>> 28))
        t = d &+ (a ^ b ^ c) &+ x12 &+ 0xe6db99e5
        d = a &+ ((t &<< 11) | (t &>> 21))
        t = c &+ (d ^ a ^ b) &+ x15 &+ 0x1fa27cf8
        c = d &+ ((t &<< 16) | (t &>> 16))
        t = b &+ (c ^ d ^ a) &+ x2 &+ 0xc4ac5665
        b = c &+ ((t &<< 23) | (t &>> 9))
        t = a &+ (c ^ (b | ~d)) &+ x0 &+ 0xf4292244
        a = b &+ ((t &<< 6) | (t &>> 26))
        t = d &+ (b ^ (a | ~c)) &+ x7 &+ 0x432aff97
        d = a &+ ((t &<< 10) | (t &>> 22))
        t = c &+ (a ^ (d | ~b)) &+ x14 &+ 0xab9423a7
        c = d &+ ((t &<< 15) | (t &>> 17))
        t = b &+ (d ^ (c | ~a)) &+ x5 &+ 0xfc93a039
        b = c &+ ((t &<< 21) | (t &>> 11))
        t = a &+ (c ^ (b | ~d)) &+ x12 &+ 0x655b59c3
        a = b &+ ((t &<< 6) | (t &>> 26))
        t = d &+ (b ^ (a | ~c)) &+ x3 &+ 0x8f0ccc92
        d = a &+ ((t &<< 10) | (t &>> 22))
        t = c &+ (a ^ (d | ~b)) &+ x10 &+ 0xffeff47d
        c = d &+ ((t &<< 15) | (t &>> 17))
        t = b &+ (d ^ (c | ~a)) &+ x1 &+ 0x85845dd1
        b = c &+ ((t &<< 21) | (t &>> 11))
        t = a &+ (c ^ (b | ~d)) &+ x8 &+ 0x6fa87e4f
        a = b &+ ((t &<< 6) | (t &>> 26))
        t = d &+ (b ^ (a | ~c)) &+ x15 &+ 0xfe2ce6e0
        d = a &+ ((t &<< 10) | (t &>> 22))
        t = c &+ (a ^ (d | ~b)) &+ x6 &+ 0xa3014314
        c = d &+ ((t &<< 15) | (t &>> 17))
        t = b &+ (d ^ (c | ~a)) &+ x13 &+ 0x4e0811a1
        b = c &+ ((t &<< 21) | (t &>> 11))
        t = a &+ (c ^ (b | ~d)) &+ x4 &+ 0xf7537e82
        a = b &+ ((t &<< 6) | (t &>> 26))
        t = d &+ (b ^ (a | ~c)) &+ x11 &+ 0xbd3af235
        d = a &+ ((t &<< 10) | (t &>> 22))
        t = c &+ (a ^ (d | ~b)) &+ x2 &+ 0x2ad7d2bb
        c = d &+ ((t &<< 15) | (t &>> 17))
        t = b &+ (d ^ (c | ~a)) &+ x9 &+ 0xeb86d391
        b = c &+ ((t &<< 21) | (t &>> 11))

        self.a &+= a
        self.b &+= b
        self.c &+= c
        self.d &+= d
    }
}
