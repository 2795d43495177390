/// One connection to one etcd member: the gRPC connection, the auth token its calls carry, and
/// its keepalive and watch streams.
final class EtcdConnection: Sendable {
    let endpoint: EtcdClientConfiguration.Endpoint
    let grpc: GRPCConnection
    /// `token: …` when the cluster has auth enabled.
    let metadata: [(String, String)]
    let keepAlives: EtcdKeepAliveStream
    let watches: EtcdWatchStream

    init(endpoint: EtcdClientConfiguration.Endpoint, grpc: GRPCConnection, token: String?) {
        self.endpoint = endpoint
        self.grpc = grpc
        self.metadata = token.map { [("token", $0)] } ?? []
        self.keepAlives = EtcdKeepAliveStream(connection: grpc, metadata: metadata)
        self.watches = EtcdWatchStream(connection: grpc, metadata: metadata)
    }

    var isActive: Bool { grpc.isActive }
}
