import ArgumentParser
import ToozBackends

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `tooz bench-leader` (hidden): the process `tooz bench` kills to measure a leader failover.
/// It leads the group, says so with the ready file, and waits to be killed.
struct BenchLeaderCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-leader",
        abstract: "The leader process `tooz bench` kills (internal).",
        shouldDisplay: false
    )

    @OptionGroup var global: GlobalOptions
    @Option var group: String
    @Option var ready: String
    @Option(help: "The bench's pid: this process exits when it is orphaned.") var parent: Int32

    func run() async throws {
        let group = GroupID(self.group)
        let ready = self.ready
        let parent = self.parent
        try await global.withCoordinator { coordinator in
            try await coordinator.withLeadership(of: group) { _ in
                try Platform.writeFile(ready, "leading\n")
                while !Task.isCancelled {
                    if Platform.parentProcessID != parent { _exit(70) }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }
}
