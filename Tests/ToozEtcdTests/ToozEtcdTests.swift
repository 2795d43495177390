import Testing
import ToozEtcd

@Suite struct ToozEtcdModuleTests {
    @Test func moduleLinks() {
        #expect(GroupID("g").rawValue == "g")
    }
}
