import ArgumentParser
import ToozBackends

/// `tooz elect GROUP -- CMD…`: run a command only while this member leads a group.
struct ElectCommand: AsyncParsableCommand, GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "elect",
        abstract: "Run a command only while this member leads a group.",
        discussion: """
            Joins GROUP (creating it when needed, on backends with groups), campaigns for its \
            leadership, and runs CMD once elected, with TOOZ_FENCING_TOKEN (the leadership's \
            fencing token), TOOZ_GROUP and TOOZ_MEMBER set. When CMD ends, tooz stands down, \
            leaves the group and exits with CMD's status. If the leadership is lost, CMD's process \
            group gets SIGTERM, then SIGKILL after --grace seconds, and tooz exits 76. If tooz \
            dies, even of SIGKILL, CMD's group gets SIGKILL at once (Linux).

            Exit status: CMD's own status (128+N when a signal N killed it); 76 when the \
            leadership was lost; 3 when the backend has no leader election; 130 when \
            interrupted while campaigning; other statuses as in `tooz --help`.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The group to lead.")
    var group: String

    @Option(help: ArgumentHelp("Capabilities to publish as a member, as JSON (see `tooz group join --help`).", valueName: "json"))
    var capabilities: String?

    @OptionGroup var supervised: SupervisedCommandOptions

    func validate() throws {
        try supervised.validate(usage: "tooz elect GROUP -- CMD [ARG...]")
    }

    func run() async throws {
        let capabilities = try self.capabilities.map(CapabilitiesJSON.parse) ?? .nil
        let watcher = SignalWatcher()
        defer { watcher.stop() }
        let group = GroupID(self.group)
        let leased = supervised.leasedCommand
        let status: Int32
        do {
            status = try await global.withCoordinator { coordinator in
                try await leased.supervise(signals: watcher) {
                    let features = coordinator.info.features
                    if features.contains(.membership) {
                        if features.contains(.groups) {
                            try await coordinator.joinCreatingGroup(group, capabilities: capabilities)
                        } else {
                            try await coordinator.join(group, capabilities: capabilities)
                        }
                    }
                    return try await coordinator.withLeadership(of: group) { lease in
                        try await leased.run(environment: [
                            "TOOZ_FENCING_TOKEN": String(lease.fencingToken.value),
                            "TOOZ_GROUP": group.rawValue,
                            "TOOZ_MEMBER": coordinator.member.rawValue,
                        ])
                    }
                }
            }
        } catch let error as ToozError where error.code == .leaseLost {
            throw CLIFailure(.leaseLost, "\(error.message); \(supervised.command[0]) was terminated")
        }
        if status != 0 { throw CLIFailure.exit(status) }
    }
}
