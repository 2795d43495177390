import Synchronization
import Testing
import ToozTestKit

@testable import Tooz

/// An event stream across an outage of the backend: it goes on, and what changed meanwhile
/// arrives as the difference once the backend answers again.
@Suite struct GroupEventsOutageTests {
    /// A memory backend whose member reads fail with `connectionFailed` while `down` is set.
    final class FlakyReads: ForwardingBackend, Sendable {
        let base: any CoordinationBackend
        private let state = Mutex((down: false, failedReads: 0))

        init(base: any CoordinationBackend) { self.base = base }

        var down: Bool {
            get { state.withLock { $0.down } }
            set { state.withLock { $0.down = newValue } }
        }

        var failedReads: Int { state.withLock { $0.failedReads } }

        func members(of group: GroupID) async throws -> [MemberID: Capabilities] {
            let failing = state.withLock { state -> Bool in
                if state.down { state.failedReads += 1 }
                return state.down
            }
            if failing { throw ToozError(.connectionFailed, "the test switched the backend off") }
            return try await base.members(of: group)
        }
    }

    @Test func aMemberThatJoinsDuringAnOutageIsReportedWhenTheBackendAnswersAgain() async throws {
        let store = MemoryStore()
        var configuration = CoordinatorConfiguration()
        configuration.eventPollInterval = .milliseconds(20)
        let flaky = FlakyReads(base: MemoryBackend(store: store))
        let watcher = try Coordinator(backend: flaky, member: "watcher", configuration: configuration)
        let joiner = try Coordinator(backend: MemoryBackend(store: store), member: "joiner", configuration: configuration)
        try await watcher.withRunning {
            try await joiner.withRunning {
                try await watcher.createGroup("g")
                try await withEvents(of: watcher, in: "g") { log in
                    flaky.down = true
                    try await joiner.join("g", capabilities: .string("hi"))
                    // Reads fail for a while; the stream neither ends nor throws.
                    try await eventually("the stream to read through the outage") { flaky.failedReads >= 3 }
                    #expect(log.failure == nil)
                    #expect(log.events(about: "joiner").isEmpty)
                    flaky.down = false
                    try await log.waitFor(.joined("joiner", capabilities: .string("hi")))
                    #expect(log.failure == nil)
                }
            }
        }
    }
}
