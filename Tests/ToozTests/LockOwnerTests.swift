import Testing
import Tooz

@Suite("LockOwner tokens")
struct LockOwnerTests {
    @Test("a token is 32 lowercase hex digits: the process prefix, then a counter that grows by one")
    func tokenLayout() throws {
        let first = LockOwner.uniqueToken()
        let second = LockOwner.uniqueToken()
        for token in [first, second] {
            #expect(token.utf8.count == 32)
            #expect(token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }, "\(token)")
        }
        #expect(first.prefix(16) == second.prefix(16), "one prefix per process")
        let a = try #require(UInt64(first.suffix(16), radix: 16))
        let b = try #require(UInt64(second.suffix(16), radix: 16))
        #expect(b > a, "a later token has a larger counter")
        #expect(LockOwner(member: "m").token != LockOwner(member: "m").token)
    }
}
