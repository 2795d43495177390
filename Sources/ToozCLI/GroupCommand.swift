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

                While joined, a membership in doubt, lost or restored is reported on stderr (the \
                coordinator joins again by itself). When the group disappears (deleted, or lost \
                with the server's data), --create makes it again and joins; without --create the \
                command fails with 2.

                Exit status: 0 after leaving; 2 when the group does not exist or disappears (see \
                --create) or the member id has joined already; 65 for invalid --capabilities.
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
                        // Stay a member until a signal cancels this task.
                        try await Self.stayMember(of: group, coordinator: coordinator, create: create)
                    }
                }
            } catch is Interrupted {
                // withRunning has shut the coordinator down, which left the group.
                return
            }
        }

        /// Says on stderr whenever the membership is in doubt, lost or restored (the coordinator
        /// re-joins by itself after a loss). When the membership ends without our leaving (the
        /// group was deleted, or vanished with the server's data), there is nothing to re-join:
        /// with `--create` the group is made again and joined with the same capabilities;
        /// without it the command fails as a join of a missing group does.
        static func stayMember(of group: GroupID, coordinator: Coordinator, create: Bool) async throws {
            let name = group.rawValue.debugDescription
            while true {
                guard let membership = coordinator.membership(in: group) else {
                    throw ToozError(.groupNotCreated, "group \(name) is gone; this member is not in it any more")
                }
                var isFirst = true
                for await state in membership.states {
                    defer { isFirst = false }
                    switch state {
                    case .joined where isFirst: break
                    case .joined: Console.error("membership of group \(name) restored")
                    case .uncertain: Console.error("membership of group \(name) uncertain: the backend does not answer")
                    case .lost(let reason): Console.error("membership of group \(name) lost (\(reason)); joining again")
                    case .left: break
                    }
                }
                // The states end when the member has left: a signal cancels this task first.
                try Task.checkCancellation()
                guard create else {
                    throw ToozError(
                        .groupNotCreated,
                        "group \(name) is gone (deleted, or lost with the server's data); this member left it (--create makes it again)"
                    )
                }
                Console.error("group \(name) is gone; creating it again")
                try await rejoin(group, capabilities: membership.capabilities, coordinator: coordinator)
                Console.error("joined group \(name) again")
            }
        }

        /// `joinCreatingGroup`, retried every second while the backend cannot be reached.
        private static func rejoin(_ group: GroupID, capabilities: Capabilities, coordinator: Coordinator) async throws {
            var reported = false
            while true {
                do {
                    try await coordinator.joinCreatingGroup(group, capabilities: capabilities)
                    return
                } catch let error as ToozError where error.code == .connectionFailed || error.code == .timedOut {
                    if !reported { Console.error("cannot join group \(group.rawValue.debugDescription) yet (\(error.message)); retrying") }
                    reported = true
                    try await Task.sleep(for: .seconds(1))
                }
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
