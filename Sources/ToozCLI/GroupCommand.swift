import ArgumentParser
import ToozBackends

/// `tooz group create|delete|list|join|members`.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Create, delete, list, join groups and list their members.",
        subcommands: [Create.self, Delete.self, List.self, Join.self, Members.self]
    )

    struct Create: AsyncParsableCommand, GlobalOptionsCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a group.",
            discussion: "Exit status: 0 when created; 2 when it exists already (0 with --if-needed)."
        )

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group's id.") var group: String
        @Flag(help: "Succeed when the group exists already.") var ifNeeded = false

        func run() async throws {
            let group = GroupID(self.group)
            let ifNeeded = self.ifNeeded
            try await global.withCoordinator { coordinator in
                if ifNeeded {
                    try await coordinator.createGroupIfNeeded(group)
                } else {
                    try await coordinator.createGroup(group)
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand, GlobalOptionsCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an empty group.",
            discussion: "Exit status: 0 when deleted; 2 when it does not exist or still has members."
        )

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group's id.") var group: String

        func run() async throws {
            let group = GroupID(self.group)
            try await global.withCoordinator { try await $0.deleteGroup(group) }
        }
    }

    struct List: AsyncParsableCommand, GlobalOptionsCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every group's id, one per line, sorted."
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let groups = try await global.withCoordinator { try await $0.groups() }
            for group in groups.sorted() { Console.out(group.rawValue) }
        }
    }

    struct Join: AsyncParsableCommand, GlobalOptionsCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a group and stay a member until interrupted.",
            discussion: """
                Stays a member (heartbeating as the backend needs) until SIGINT, SIGTERM or \
                SIGHUP, then leaves the group cleanly and exits 0.

                \(CapabilitiesJSON.helpText)

                Exit status: 0 after leaving; 2 when the group does not exist (see --create) or \
                the member id has joined already; 65 for invalid --capabilities.
                """
        )

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group's id.") var group: String
        @Option(help: ArgumentHelp("The capabilities to publish, as JSON.", valueName: "json"))
        var capabilities: String?
        @Flag(help: "Create the group when it does not exist.") var create = false

        func run() async throws {
            let capabilities = try self.capabilities.map(CapabilitiesJSON.parse) ?? .nil
            let watcher = SignalWatcher()
            defer { watcher.stop() }
            let group = GroupID(self.group)
            let create = self.create
            do {
                try await global.withCoordinator { coordinator in
                    try await watcher.runUntilSignalled {
                        if create {
                            try await coordinator.joinCreatingGroup(group, capabilities: capabilities)
                        } else {
                            try await coordinator.join(group, capabilities: capabilities)
                        }
                        Console.error(
                            "joined group \(group.rawValue.debugDescription) as \(coordinator.member.rawValue.debugDescription); interrupt (Ctrl-C) to leave"
                        )
                        // Stay a member until a signal cancels this wait.
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    }
                }
            } catch is Interrupted {
                // withRunning has shut the coordinator down, which left the group.
                return
            }
        }
    }

    struct Members: AsyncParsableCommand, GlobalOptionsCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a group's live members, one id per line, sorted.",
            discussion: """
                With --json, each line is one JSON object: {"member": "<id>", "capabilities": <json>}.

                \(CapabilitiesJSON.helpText)

                Exit status: 0 (also for an empty group); 2 when the group does not exist.
                """
        )

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group's id.") var group: String
        @Flag(help: "Print JSON lines with capabilities.") var json = false

        func run() async throws {
            let group = GroupID(self.group)
            let members = try await global.withCoordinator { try await $0.membersWithCapabilities(of: group) }
            for (member, capabilities) in members.sorted(by: { $0.key < $1.key }) {
                if json {
                    let line = JSONValue.object([
                        ("member", .string(member.rawValue)), ("capabilities", CapabilitiesJSON.json(capabilities)),
                    ])
                    Console.out(line.text)
                } else {
                    Console.out(member.rawValue)
                }
            }
        }
    }
}
