import Testing

@testable import ToozLocal

@Suite struct IPCKeyTests {
    /// Computed by Python tooz 9.1.0 (`tooz.drivers.ipc.ftok`) with sysv_ipc 1.2.0 on x86-64 Linux
    /// (KEY_MIN = LONG_MIN): the full value, then the key_t sysv_ipc hands to the kernel.
    static let pythonVectors: [(name: [UInt8], project: String, tooz: Int64, key: UInt32)] = [
        (Array("foo".utf8), "__TOOZ_LOCK_", 6_864_816_415_425_816_076, 0x91b9_e60c),
        (Array("GROUP_LIST".utf8), "_TOOZ_INTERNAL", 5_139_689_563_633_823_633, 0x482d_2f91),
        (Array("TOOZ_INTERNAL_LOCK".utf8), "__TOOZ_LOCK_", -466_281_960_937_111_831, 0xe92b_bee9),
        ([], "__TOOZ_LOCK_", 2_827_318_236_085_179_438, 0xb8d7_542e),
        (Array("my-lock".utf8), "__TOOZ_LOCK_", 7_228_888_231_707_765_353, 0xe3f1_6a69),
        (Array("bar".utf8), "__TOOZ_LOCK_", -6_972_062_006_328_583_774, 0x78c9_99a2),
        (Array("café".utf8), "__TOOZ_LOCK_", 247_081_274_719_763_384, 0x3a52_7bb8),
        (Array(repeating: UInt8(ascii: "a"), count: 200), "__TOOZ_LOCK_", 7_059_080_097_904_771_004, 0xcca4_bfbc),
        (Array("swift-ipc-vector-check".utf8), "__TOOZ_LOCK_", -930_133_613_980_613_705, 0xf909_03b7),
        (Array("FENCING".utf8), "_SWIFT_TOOZ", 5_151_069_539_539_144_713, 0x6590_d009),
    ]

    @Test func matchesPythonTooz() {
        for vector in Self.pythonVectors {
            let key = IPCKey(name: vector.name, project: Array(vector.project.utf8))
            #expect(key.toozValue == vector.tooz, "ftok(\(vector.name), \(vector.project))")
            #expect(UInt32(bitPattern: key.rawValue) == vector.key, "key_t of ftok(\(vector.name), \(vector.project))")
        }
    }

    @Test func wellKnownKeys() {
        #expect(IPCKey.lock("foo").rawValue == -1_850_087_924)
        #expect(IPCKey.lock("foo").description == "0x91b9e60c")
        #expect(IPCKey.groupList.description == "0x482d2f91")
        #expect(IPCKey.internalLock == IPCKey.lock("TOOZ_INTERNAL_LOCK"))
        #expect(IPCKey.internalLock.description == "0xe92bbee9")
    }

    @Test func stringAndByteFormsAgree() {
        #expect(IPCKey(name: "café", project: "__TOOZ_LOCK_") == IPCKey(name: Array("café".utf8), project: Array("__TOOZ_LOCK_".utf8)))
        // tooz hashes project + name with no separator, so these collide in Python too.
        #expect(IPCKey(name: "ab", project: "c") == IPCKey(name: "b", project: "ca"))
        #expect(IPCKey(name: "a", project: "b") != IPCKey(name: "b", project: "a"))
    }

    @Test func descriptionPadsToEightDigits() {
        // Find a key with a leading zero nibble and check the zero is kept.
        let small = (0..<1000).lazy.map { IPCKey(name: "k\($0)", project: "p") }
            .first { UInt32(bitPattern: $0.rawValue) < 0x1000_0000 }!
        #expect(small.description.count == 10)
        #expect(small.description.hasPrefix("0x0"))
    }

    @Test func keyCacheDerivesOncePerNameAndStaysBounded() {
        let cache = IPCLockKeyCache(capacity: 3)
        for name in ["foo", "my-lock", "foo", "bar", "café"] {
            #expect(cache.key(for: name) == IPCKey.lock(name), "\(name)")
        }
        // "foo" was cached once; the fourth distinct name started the cache afresh.
        #expect(cache.count == 1)
        #expect(cache.key(for: "foo") == IPCKey.lock("foo"))
        #expect(cache.count == 2)
    }
}
