/// SHA-1 (RFC 3174), written out in Swift so that `Tooz` needs no crypto dependency.
///
/// tooz's `file://` backend names group directories and member files after the SHA-1 hex digest
/// of the ids' UTF-8 bytes, so a Swift process sharing a directory with Python must produce the
/// same names. It is not used for anything security-related.
///
/// Like ``MD5``, the hasher is a value and ``finalize()`` does not reset it, matching Python's
/// `h.update(...); h.hexdigest()`.
package struct SHA1: Sendable {
    /// The length of a digest in bytes.
    package static let digestByteCount = 20

    private var state = State()
    /// Up to one block of input that has not been compressed yet; a tuple so that it lives inline.
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var bufferCount = 0
    /// Total bytes absorbed; the appended bit length is taken modulo 2^64, as the standard says.
    private var byteCount: UInt64 = 0

    package init() {}

    /// A hasher that has already absorbed `bytes`, like Python's `hashlib.sha1(bytes)`.
    package init(_ bytes: some Sequence<UInt8>) {
        update(bytes)
    }

    /// Absorbs `bytes`.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var input = bytes.baseAddress, !bytes.isEmpty else { return }
        var remaining = bytes.count
        byteCount &+= UInt64(truncatingIfNeeded: remaining)

        if bufferCount > 0 {
            let take = min(64 - bufferCount, remaining)
            let offset = bufferCount
            withUnsafeMutableBytes(of: &buffer) { raw in
                raw.baseAddress!.advanced(by: offset).copyMemory(from: input, byteCount: take)
            }
            bufferCount += take
            input += take
            remaining -= take
            guard bufferCount == 64 else { return }
            compressBuffer()
            bufferCount = 0
        }
        while remaining >= 64 {
            state.compress(input)
            input += 64
            remaining -= 64
        }
        if remaining > 0 {
            withUnsafeMutableBytes(of: &buffer) { raw in
                raw.baseAddress!.copyMemory(from: input, byteCount: remaining)
            }
            bufferCount = remaining
        }
    }

    /// Absorbs `bytes`; contiguous collections are hashed in place, without a copy.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// The digest of everything absorbed so far. Does not change the hasher.
    package func finalize() -> [UInt8] {
        let words = finalState()
        var digest = [UInt8]()
        digest.reserveCapacity(20)
        for word in [words.h0, words.h1, words.h2, words.h3, words.h4] {
            withUnsafeBytes(of: word.bigEndian) { digest.append(contentsOf: $0) }
        }
        return digest
    }

    /// The digest of everything absorbed so far, as lowercase hex (Python's `hexdigest()`).
    package var hexDigest: String {
        let digits = Array("0123456789abcdef".utf8)
        var characters = [UInt8]()
        characters.reserveCapacity(40)
        for byte in finalize() {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// The SHA-1 digest of `bytes`.
    package static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        SHA1(bytes).finalize()
    }

    /// The lowercase hex SHA-1 of `bytes`: the file backend's `hashlib.sha1(id).hexdigest()`.
    package static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        SHA1(bytes).hexDigest
    }

    private mutating func compressBuffer() {
        var current = state
        withUnsafeBytes(of: &buffer) { current.compress($0.baseAddress!) }
        state = current
    }

    /// Pads a copy of the pending block and returns the resulting state, leaving `self` untouched.
    private func finalState() -> State {
        var copy = self
        let count = copy.bufferCount
        let bitLength = byteCount &* 8
        withUnsafeMutableBytes(of: &copy.buffer) { raw in
            raw[count] = 0x80
            for index in (count + 1)..<64 { raw[index] = 0 }
        }
        if count >= 56 {
            // No room for the length: this block is finished and the length goes in a new one.
            copy.compressBuffer()
            withUnsafeMutableBytes(of: &copy.buffer) { raw in
                for index in 0..<56 { raw[index] = 0 }
            }
        }
        withUnsafeMutableBytes(of: &copy.buffer) { raw in
            raw.storeBytes(of: bitLength.bigEndian, toByteOffset: 56, as: UInt64.self)
        }
        copy.compressBuffer()
        return copy.state
    }

    private struct State: Sendable {
        var h0: UInt32 = 0x6745_2301
        var h1: UInt32 = 0xefcd_ab89
        var h2: UInt32 = 0x98ba_dcfe
        var h3: UInt32 = 0x1032_5476
        var h4: UInt32 = 0xc3d2_e1f0

        /// One 64-byte block. A 16-word rolling schedule avoids any heap allocation.
        mutating func compress(_ block: UnsafeRawPointer) {
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
}
