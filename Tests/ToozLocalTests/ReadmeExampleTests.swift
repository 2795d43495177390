import Foundation
import Testing
import ToozBackends

/// The Swift example of README.md's "Use it" section, run on a temporary `file://` directory.
///
/// The example's body here must stay identical, line for line, to the README's (everything after
/// its `let url = …` line): ``readmeShowsThisExample()`` compares them, so that the README shows
/// code that compiles and runs.
@Suite struct ReadmeExampleTests {
    @Test func theExampleRuns() async throws {
        try await withFileDirectory { directory in
            let url = "file://" + directory
            // README example begins: keep identical to README.md, "Use it".

            /// Your storage. It refuses a write fenced by an older token than one it accepted, so a worker
            /// whose lease was lost cannot overwrite the work of the one that holds the lock now.
            actor IndexStore {
                struct StaleWrite: Error {}
                private(set) var index: [String] = []
                private var newestToken: UInt64 = 0

                func write(_ index: [String], fencedBy token: FencingToken) throws {
                    guard token.value >= newestToken else { throw StaleWrite() }
                    newestToken = token.value
                    self.index = index
                }
            }

            let store = IndexStore()
            let coordinator = try Coordinator(url: url, member: "worker-1")
            try await coordinator.withRunning {                       // or run it as a ServiceLifecycle Service
                try await coordinator.joinCreatingGroup("workers", capabilities: ["weight": 2])
                for try await event in try coordinator.events(in: "workers") {  // snapshot, then joined/left/leader
                    print(event)
                    if case .snapshot = event { break }               // a real app keeps watching, in a task
                }

                try await coordinator.withLock(named: "rebuild-index", wait: .seconds(5)) { lease in
                    try await store.write(["a", "b"], fencedBy: lease.fencingToken)  // cancelled if the lease is lost
                }
                try await coordinator.withLeadership(of: "workers") { term in      // runs only while leader
                    print("leading workers with fencing token \(term.fencingToken)")
                }
                let owners = try await coordinator.partitioner(for: "workers").members(for: "object-42")
                print("object-42 belongs to \(owners)")
            }
            // README example ends.

            #expect(await store.index == ["a", "b"])
            #expect(coordinator.joinedGroups.isEmpty, "the member left when the coordinator stopped")
            let reader = try Coordinator(url: url, member: "reader")
            let (groups, members) = try await reader.withRunning {
                (try await reader.groups(), try await reader.members(of: "workers"))
            }
            #expect(groups == ["workers"])
            #expect(members.isEmpty)
        }
    }

    @Test func readmeShowsThisExample() throws {
        let testFile = URL(fileURLWithPath: #filePath)
        let root = testFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let test = try String(contentsOf: testFile, encoding: .utf8)

        // The README's block, from the line after `let url = …` to the closing fence.
        let section = try #require(readme.components(separatedBy: "## Use it\n").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```swift\n").dropFirst().first)
        let code = try #require(block.components(separatedBy: "\n```").first)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let urlLine = try #require(code.firstIndex { $0.hasPrefix("let url = ") })
        let fromReadme = Array(code[(urlLine + 1)...])

        // This file's copy, between the markers, without the 12 spaces of indentation.
        let lines = test.split(separator: "\n", omittingEmptySubsequences: false)
        let beginMarker = "// README example begins: keep identical to README.md, \"Use it\"."
        let begin = try #require(lines.firstIndex { $0.hasSuffix(beginMarker) })
        let end = try #require(lines.firstIndex { $0.hasSuffix("// README example ends.") })
        let fromTest = lines[(begin + 1)..<end].map { $0.hasPrefix("            ") ? $0.dropFirst(12) : $0 }

        #expect(fromTest.count == fromReadme.count)
        for (index, (mine, theirs)) in zip(fromTest, fromReadme).enumerated() {
            #expect(mine == theirs, "line \(index + 1) after `let url`")
        }
    }
}
