import Testing

@testable import Tooz

@Suite struct NameRulesTests {
    @Test func refusesEmptyNulTooLongAndNonASCII() {
        let rules = NameRules(maximumLength: 8, forbiddenCharacters: ["/"], asciiOnly: true)
        for bad in ["", "a\0b", "123456789", "é", "a/b"] {
            #expect(throws: ToozError.self) { try rules.validate(bad, as: .group) }
        }
        #expect(throws: Never.self) { try rules.validate("group-1", as: .group) }
    }

    @Test func messagesNameTheKind() {
        #expect {
            try NameRules().validate("", as: .lock)
        } throws: { error in
            let error = error as! ToozError
            return error.code == .invalidArgument && error.message.contains("lock name")
        }
    }

    @Test func aLimitOfOneKindAppliesToThatKindOnly() throws {
        let rules = NameRules(maximumLength: 100, maximumLengthByKind: [.lock: 4])
        let long = String(repeating: "é", count: 3)  // 6 bytes
        #expect {
            try rules.validate(long, as: .lock)
        } throws: { error in
            (error as? ToozError)?.message == "lock name is 6 bytes long; this backend accepts at most 4"
        }
        try rules.validate(long, as: .group)
        try rules.validate("abcd", as: .lock)
    }

    @Test func refusesReservedPrefixesOfTheirKindOnly() throws {
        let rules = NameRules(reservedPrefixes: [.lock: ["_TOOZ_GROUP_LEADER_"]])
        #expect {
            try rules.validate("_TOOZ_GROUP_LEADER_g", as: .lock)
        } throws: { error in
            let error = error as! ToozError
            return error.code == .invalidArgument && error.message.contains("starts with \"_TOOZ_GROUP_LEADER_\"")
        }
        try rules.validate("_TOOZ_GROUP_LEADER_g", as: .group)
        try rules.validate("x_TOOZ_GROUP_LEADER_", as: .lock)
    }

    @Test func aForbiddenScalarInsideACombinedCharacterIsFound() throws {
        let rules = NameRules(forbiddenCharacters: [" ", "\n", "\r"])
        // " \u{301}" is one Character (a space with an acute accent) but holds a space byte;
        // "\r\n" is one Character made of two forbidden scalars.
        for bad in ["a \u{301}b", "a\r\nb"] {
            #expect {
                try rules.validate(bad, as: .member)
            } throws: { error in
                (error as! ToozError).code == .invalidArgument
            }
        }
        try rules.validate("caf\u{E9}-e\u{301}", as: .member)
    }
}
