// Placeholder: replaced by the file backend.
public struct FileBackend: CoordinationBackend {
    public var info: BackendInfo {
        BackendInfo(name: "file", features: [], fencing: .durable, eventDelivery: .polled, leaseKind: .session, characteristics: [])
    }
    public func connect() async throws {}
    public func disconnect() async {}
    static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration) {
        (FileBackend(), CoordinatorConfiguration())
    }
}
