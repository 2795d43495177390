// Placeholder: replaced by the ipc backend.
public struct IPCBackend: CoordinationBackend {
    public var info: BackendInfo {
        BackendInfo(name: "ipc", features: [], fencing: .hostLocal, eventDelivery: .polled, leaseKind: .session, characteristics: [])
    }
    public func connect() async throws {}
    public func disconnect() async {}
    static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        (IPCBackend(), CoordinatorConfiguration())
    }
}
