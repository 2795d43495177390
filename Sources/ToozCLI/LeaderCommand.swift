import ArgumentParser
import ToozBackends

/// `tooz leader GROUP`: who leads a group.
struct LeaderCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Print the id of a group's leader.",
        discussion: """
            Prints the leader's member id, or nothing when nobody leads.

            Exit status: 0 when the group has a leader; 1 when nobody leads it; 3 when the \
            backend cannot tell who leads.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The group's id.") var group: String

    func run() async throws {
        let group = GroupID(self.group)
        let leader = try await global.withCoordinator { try await $0.leader(of: group) }
        guard let leader else { throw CLIFailure(.negative, nil) }
        Console.out(leader.rawValue)
    }
}
