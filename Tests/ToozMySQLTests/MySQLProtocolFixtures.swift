import NIOCore
import ToozMySQL

/// Builders of server packets, written from the protocol documentation independently of the
/// client's parsers, so a test compares the client with the spec rather than with itself.
enum MySQLFixtures {
    static let nonce: [UInt8] = Array(1...20)

    /// MariaDB 10.11's usual capabilities (no `CLIENT_MYSQL` bit, `CLIENT_SSL` optional).
    static func serverCapabilities(ssl: Bool = false, deprecateEOF: Bool = true) -> UInt32 {
        var flags: UInt32 = 0b1111_0111_1111_1110  // everything but bit 0 (CLIENT_MYSQL) and SSL (bit 11)
        flags &= ~(1 << 11)
        if ssl { flags |= 1 << 11 }
        flags |= (1 << 16) | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 23)
        if deprecateEOF { flags |= 1 << 24 }
        return flags
    }

    static func handshake(
        version: String = "5.5.5-10.11.6-MariaDB",
        connectionID: UInt32 = 42,
        capabilities: UInt32 = serverCapabilities(),
        plugin: String = "mysql_native_password"
    ) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt8(10))
        b.writeString(version)
        b.writeInteger(UInt8(0))
        b.writeInteger(connectionID, endianness: .little)
        b.writeBytes(nonce[0..<8])
        b.writeInteger(UInt8(0))
        b.writeInteger(UInt16(truncatingIfNeeded: capabilities), endianness: .little)
        b.writeInteger(UInt8(45))
        b.writeInteger(UInt16(2), endianness: .little)
        b.writeInteger(UInt16(truncatingIfNeeded: capabilities >> 16), endianness: .little)
        b.writeInteger(UInt8(21))
        b.writeRepeatingByte(0, count: 6)
        b.writeBytes([0x1D, 0, 0, 0])  // MariaDB extended capabilities
        b.writeBytes(nonce[8..<20])
        b.writeInteger(UInt8(0))
        b.writeString(plugin)
        b.writeInteger(UInt8(0))
        return b
    }

    static func lenenc(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0..<251: [UInt8(value)]
        case 251..<65536: [0xFC, UInt8(value & 0xFF), UInt8(value >> 8)]
        case 65536..<16_777_216: [0xFD, UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value >> 16)]
        default: [0xFE] + (0..<8).map { UInt8((value >> (8 * $0)) & 0xFF) }
        }
    }

    static func ok(affectedRows: UInt64 = 0, lastInsertID: UInt64 = 0, status: UInt16 = 2, warnings: UInt16 = 0, header: UInt8 = 0) -> ByteBuffer {
        var b = ByteBuffer(bytes: [header] + lenenc(affectedRows) + lenenc(lastInsertID))
        b.writeInteger(status, endianness: .little)
        b.writeInteger(warnings, endianness: .little)
        return b
    }

    static func eof(status: UInt16 = 2, warnings: UInt16 = 0) -> ByteBuffer {
        var b = ByteBuffer(bytes: [0xFE])
        b.writeInteger(warnings, endianness: .little)
        b.writeInteger(status, endianness: .little)
        return b
    }

    static func err(code: UInt16, state: String?, message: String) -> ByteBuffer {
        var b = ByteBuffer(bytes: [0xFF])
        b.writeInteger(code, endianness: .little)
        if let state { b.writeString("#" + state) }
        b.writeString(message)
        return b
    }

    static func string(_ s: String) -> [UInt8] { lenenc(UInt64(s.utf8.count)) + Array(s.utf8) }

    static func column(_ name: String, type: UInt8 = 0xFD, flags: UInt16 = 0, charset: UInt16 = 45) -> ByteBuffer {
        var b = ByteBuffer(bytes: string("def") + string("tooz") + string("t") + string("t") + string(name) + string(name))
        b.writeInteger(UInt8(0x0C))
        b.writeInteger(charset, endianness: .little)
        b.writeInteger(UInt32(255), endianness: .little)
        b.writeInteger(type)
        b.writeInteger(flags, endianness: .little)
        b.writeInteger(UInt8(0))
        b.writeInteger(UInt16(0), endianness: .little)
        return b
    }

    static func row(_ values: [String?]) -> ByteBuffer {
        ByteBuffer(bytes: values.flatMap { $0.map(string) ?? [0xFB] })
    }

    static func packet(_ payload: ByteBuffer, _ sequenceID: UInt8) -> MySQLPacket {
        MySQLPacket(sequenceID: sequenceID, payload: payload)
    }

    /// `payload` framed as one physical packet.
    static func frame(_ payload: ByteBuffer, _ sequenceID: UInt8) -> [UInt8] {
        let n = payload.readableBytes
        return [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), sequenceID] + Array(payload.readableBytesView)
    }
}

/// A tiny deterministic generator, so fuzz-style tests are repeatable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
