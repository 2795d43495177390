/// SHA-1 (RFC 3174), written out in Swift so that `Tooz` needs no crypto dependency.
///
/// tooz's `file://` backend names group directories and member files after the SHA-1 hex digest
/// of the ids' UTF-8 bytes, so a Swift process sharing a directory with Python must produce the
/// same names. It is not used for anything security-related. Buffering, padding and the value
/// semantics (``BlockHasher/finalize()`` does not reset) come from ``BlockHasher``.
package typealias SHA1 = BlockHasher<SHA1State>

/// SHA-1's five-word chaining state and its compression function.
package struct SHA1State: BlockCompressionState {
    package static let digestByteCount = 20
    package static let isLittleEndian = false

    var h0: UInt32 = 0x6745_2301
    var h1: UInt32 = 0xefcd_ab89
    var h2: UInt32 = 0x98ba_dcfe
    var h3: UInt32 = 0x1032_5476
    var h4: UInt32 = 0xc3d2_e1f0

    package init() {}

    package var digestWords: [UInt32] { [h0, h1, h2, h3, h4] }

    /// One 64-byte block. A 16-word rolling schedule avoids any heap allocation.
    package mutating func compress(_ block: UnsafeRawPointer) {
        var w: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var a = h0
        var b = h1
        var c = h2
        var d = h3
        var e = h4
        withUnsafeMutableBytes(of: &w) { raw in
            let schedule = raw.bindMemory(to: UInt32.self)
            for index in 0..<16 {
                schedule[index] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
            }
            for round in 0..<80 {
                let slot = round & 15
                if round >= 16 {
                    let mixed = schedule[(round - 3) & 15] ^ schedule[(round - 8) & 15]
                        ^ schedule[(round - 14) & 15] ^ schedule[slot]
                    schedule[slot] = (mixed &<< 1) | (mixed &>> 31)
                }
                let f: UInt32
                let k: UInt32
                switch round {
                case 0..<20:
                    f = (b & c) | (~b & d)
                    k = 0x5a82_7999
                case 20..<40:
                    f = b ^ c ^ d
                    k = 0x6ed9_eba1
                case 40..<60:
                    f = (b & c) | (b & d) | (c & d)
                    k = 0x8f1b_bcdc
                default:
                    f = b ^ c ^ d
                    k = 0xca62_c1d6
                }
                let temp = ((a &<< 5) | (a &>> 27)) &+ f &+ e &+ k &+ schedule[slot]
                e = d
                d = c
                c = (b &<< 30) | (b &>> 2)
                b = a
                a = temp
            }
        }
        h0 &+= a
        h1 &+= b
        h2 &+= c
        h3 &+= d
        h4 &+= e
    }
}
