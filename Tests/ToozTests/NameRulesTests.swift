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
}
