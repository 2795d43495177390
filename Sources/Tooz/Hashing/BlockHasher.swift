/// The chaining state of a Merkle–Damgård hash with 64-byte blocks: everything that differs
/// between ``MD5`` and ``SHA1``, while ``BlockHasher`` does the buffering and padding they share.
package protocol BlockCompressionState: Sendable {
    /// The length of a digest in bytes.
    static var digestByteCount: Int { get }

    /// Whether the algorithm reads words little-endian (MD5) rather than big-endian (SHA-1).
    /// It governs both the bit length appended by the padding and the digest's byte order.
    static var isLittleEndian: Bool { get }

    /// The algorithm's initial state.
    init()

    /// Folds one 64-byte block into the state.
    mutating func compress(_ block: UnsafeRawPointer)

    /// The state words in the order the digest lists them.
    var digestWords: [UInt32] { get }
}

/// A streaming Merkle–Damgård hasher; ``MD5`` and ``SHA1`` are its two instances.
///
/// The hasher is a value: ``finalize()`` reads the digest of what has been absorbed so far
/// without resetting or consuming it, so callers can keep updating afterwards, exactly like
/// Python's `h.update(...); h.hexdigest()`. The hash ring relies on that to compute thousands of
/// points from one running state. Everything is kept inline (no heap buffer), so copies are cheap
/// and hashing a short key allocates nothing.
package struct BlockHasher<State: BlockCompressionState>: Sendable {
    /// The length of a digest in bytes.
    package static var digestByteCount: Int { State.digestByteCount }

    private var state = State()
    /// Up to one block of input that has not been compressed yet; a tuple so that it lives inline.
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var bufferCount = 0
    /// Total bytes absorbed; both algorithms append it modulo 2^64 bits, so wrapping is the
    /// specified behaviour.
    private var byteCount: UInt64 = 0

    package init() {}

    /// A hasher that has already absorbed `bytes`, like Python's `hashlib.md5(bytes)` or
    /// `hashlib.sha1(bytes)`.
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
        var digest = [UInt8]()
        digest.reserveCapacity(State.digestByteCount)
        for word in finalState().digestWords {
            let ordered = State.isLittleEndian ? word.littleEndian : word.bigEndian
            withUnsafeBytes(of: ordered) { digest.append(contentsOf: $0) }
        }
        return digest
    }

    /// The digest of everything absorbed so far, as lowercase hex (Python's `hexdigest()`).
    package var hexDigest: String {
        let digits = Array("0123456789abcdef".utf8)
        var characters = [UInt8]()
        characters.reserveCapacity(State.digestByteCount * 2)
        for byte in finalize() {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// The digest of `bytes`.
    package static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        Self(bytes).finalize()
    }

    /// The lowercase hex digest of `bytes`.
    package static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        Self(bytes).hexDigest
    }

    private mutating func compressBuffer() {
        var current = state
        withUnsafeBytes(of: &buffer) { current.compress($0.baseAddress!) }
        state = current
    }

    /// Pads a copy of the pending block and returns the resulting state, leaving `self` untouched.
    /// Internal rather than private so that an algorithm can read its state without going
    /// through bytes (``MD5``'s `finalizeBigEndian()`).
    func finalState() -> State {
        var copy = self
        let count = copy.bufferCount
        let bitLength = byteCount &* 8
        withUnsafeMutableBytes(of: &copy.buffer) { raw in
            raw[count] = 0x80
            // One memset rather than a byte loop: debug builds run the loop byte by byte, and
            // the ring pads once per point.
            _ = raw.baseAddress!.advanced(by: count + 1)
                .initializeMemory(as: UInt8.self, repeating: 0, count: 63 - count)
        }
        if count >= 56 {
            // No room for the length: this block is finished and the length goes in a new one.
            copy.compressBuffer()
            withUnsafeMutableBytes(of: &copy.buffer) { raw in
                _ = raw.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 56)
            }
        }
        let orderedLength = State.isLittleEndian ? bitLength.littleEndian : bitLength.bigEndian
        withUnsafeMutableBytes(of: &copy.buffer) { raw in
            raw.storeBytes(of: orderedLength, toByteOffset: 56, as: UInt64.self)
        }
        copy.compressBuffer()
        return copy.state
    }
}
