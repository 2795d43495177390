import ArgumentParser
import ToozBackends

/// `tooz watch GROUP`: membership and leadership events as lines.
struct WatchCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a group's membership and leadership events until interrupted.",
        discussion: """
            The first line is the group's current state, then one line per change:
              snapshot members=[a, b] leader=a
              joined <member> <capabilities as JSON>
              left <member>
              capabilities <member> <capabilities as JSON>
              leader <member, or "none">
            With --json, one JSON object per line, with "event" one of snapshot, joined, left, \
            capabilities, leader; snapshot carries "members" (a list of {"member", \
            "capabilities"}) and "leader" (null when nobody leads). See `tooz group join --help` \
            for how capabilities map to JSON.

            An outage of the backend does not end the watch: a warning says when events are \
            interrupted and when they resume, and what changed meanwhile follows as the \
            difference (joined, left, capabilities, leader lines). A group that disappears \
            shows as every member leaving; the watch goes on and reports the group's return.

            Exit status: 0 when interrupted (SIGINT, SIGTERM, SIGHUP); 2 when the group does not \
            exist when watching starts; 3 when the backend has no groups.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The group's id.") var group: String
    @Flag(help: "Print one JSON object per line.") var json = false

    func run() async throws {
        let watcher = SignalWatcher()
        defer { watcher.stop() }
        let group = GroupID(self.group)
        let json = self.json
        do {
            try await global.withCoordinator { coordinator in
                try await watcher.runUntilSignalled {
                    for try await event in try coordinator.events(in: group) {
                        Console.out(json ? WatchCommand.json(event, group: group).text : WatchCommand.line(event))
                    }
                }
            }
        } catch is Interrupted {
            return
        }
    }

    static func line(_ event: GroupEvent) -> String {
        switch event {
        case .snapshot, .left, .leaderChanged, .membershipChanged: event.description
        case .joined(let member, let capabilities):
            "joined \(member.rawValue) \(CapabilitiesJSON.json(capabilities).text)"
        case .capabilitiesChanged(let member, let capabilities):
            "capabilities \(member.rawValue) \(CapabilitiesJSON.json(capabilities).text)"
        }
    }

    static func json(_ event: GroupEvent, group: GroupID) -> JSONValue {
        let groupEntry = ("group", JSONValue.string(group.rawValue))
        switch event {
        case .snapshot(let snapshot):
            let members = snapshot.members.sorted { $0.key < $1.key }.map { member, capabilities in
                JSONValue.object([("member", .string(member.rawValue)), ("capabilities", CapabilitiesJSON.json(capabilities))])
            }
            return .object([
                ("event", .string("snapshot")), groupEntry, ("members", .array(members)),
                ("leader", snapshot.leader.map { .string($0.rawValue) } ?? .null),
            ])
        case .joined(let member, let capabilities):
            return .object([
                ("event", .string("joined")), groupEntry, ("member", .string(member.rawValue)),
                ("capabilities", CapabilitiesJSON.json(capabilities)),
            ])
        case .left(let member):
            return .object([("event", .string("left")), groupEntry, ("member", .string(member.rawValue))])
        case .capabilitiesChanged(let member, let capabilities):
            return .object([
                ("event", .string("capabilities")), groupEntry, ("member", .string(member.rawValue)),
                ("capabilities", CapabilitiesJSON.json(capabilities)),
            ])
        case .leaderChanged(let leader):
            return .object([
                ("event", .string("leader")), groupEntry, ("leader", leader.map { .string($0.rawValue) } ?? .null),
            ])
        case .membershipChanged(let state):
            return .object([("event", .string("membership")), groupEntry, ("state", .string(state.description))])
        }
    }
}
