import Foundation
import Logging
import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization
import Tooz
import ToozNIO

/// An etcd v3 client: KV, leases, watches and auth over one gRPC connection at a time, moving
/// to the next endpoint when one fails.
///
/// Every call runs on one event loop (``eventLoop``), the executor a caller should prefer.
/// Failures are `ToozError`s naming the endpoint and the call, never a key's or password's
/// bytes.
package final class EtcdClient: Sendable {
    package let configuration: EtcdClientConfiguration
    /// The loop every connection of this client runs on.
    package let eventLoop: any EventLoop
    private let link: ReconnectingLink<EtcdConnection>
    private let logger: Logger
    /// Where the next connection attempt starts (the last endpoint that worked).
    private let preferredEndpoint = Mutex(0)
    private let hooks = Mutex(Hooks())

    /// What the owner of the client hears about connections.
    package struct Hooks: Sendable {
        /// A new connection is ready, before the call that made it goes on (re-create watches).
        package var connected: (@Sendable (EtcdConnectionHandle) async -> Void)?
        /// The connection stopped taking calls.
        package var disconnected: (@Sendable () -> Void)?

        package init() {}
    }

    package init(configuration: EtcdClientConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoopGroup.next()
        self.logger = logger
        self.link = ReconnectingLink(
            backoff: .init(initial: .milliseconds(50), maximum: .seconds(2)),
            isActive: { $0.isActive },
            closedError: { ToozError(.connectionFailed, "the etcd client is closed") },
            abandonedError: { ToozError(.connectionFailed, "connecting to etcd was abandoned") }
        )
    }

    package func setHooks(_ newHooks: Hooks) {
        hooks.withLock { $0 = newHooks }
    }

    /// Closes the current connection; later calls fail.
    package func close() async {
        if let connection = link.close() { await connection.grpc.close() }
    }

    // MARK: Connections

    /// The live connection, connecting (and authenticating) if there is none.
    func connection() async throws -> EtcdConnection {
        try await link.connection(
            connect: { try await connectToSomeEndpoint() },
            close: { await $0.grpc.close() },
            attemptFailed: { [logger] error in logger.debug("etcd connection attempt failed", metadata: ["etcd.error": "\(error)"]) }
        )
    }

    /// Makes sure a connection is up: connect's check that the cluster answers.
    package func connect() async throws {
        _ = try await connection()
    }

    private func connectToSomeEndpoint() async throws -> EtcdConnection {
        let endpoints = configuration.endpoints
        let first = preferredEndpoint.withLock { $0 }
        var failures: [String] = []
        var lastError: (any Error)?
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            do {
                let connection = try await connect(to: endpoints[index])
                preferredEndpoint.withLock { $0 = index }
                if let connected = hooks.withLock({ $0.connected }) { await connected(EtcdConnectionHandle(connection: connection)) }
                return connection
            } catch let error as ToozError where error.code == .invalidConfiguration {
                throw error
            } catch {
                failures.append("\(endpoints[index]): \(Self.describe(error))")
                lastError = error
            }
        }
        if endpoints.count == 1, let error = lastError as? ToozError { throw error }
        throw ToozError(.connectionFailed, "no etcd endpoint answered (\(failures.joined(separator: "; ")))", underlying: lastError)
    }

    private func connect(to endpoint: EtcdClientConfiguration.Endpoint) async throws -> EtcdConnection {
        var settings = GRPCConnection.Configuration(host: endpoint.host, port: endpoint.port, connectTimeout: configuration.connectTimeout)
        if let tls = configuration.tls {
            let name = configuration.tlsServerName ?? endpoint.host
            let sni: String? = (try? SocketAddress(ipAddress: name, port: 0)) == nil ? name : nil
            settings.tls = (tls, sni)
        }
        let grpc: GRPCConnection
        do {
            grpc = try await GRPCConnection.connect(settings, eventLoopGroup: eventLoop) { [weak self] status in
                self?.logger.debug("etcd connection lost", metadata: ["etcd.endpoint": "\(endpoint)", "etcd.reason": "\(status)"])
                // The next connection tries the other members first: this one may be frozen or cut off.
                self?.moveOn(from: endpoint)
                if let disconnected = self?.hooks.withLock({ $0.disconnected }) { disconnected() }
            }
        } catch {
            throw ToozError(.connectionFailed, "cannot connect to etcd at \(endpoint)", underlying: error)
        }
        do {
            var token: String?
            if let credentials = configuration.credentials {
                var request = Etcdserverpb_AuthenticateRequest()
                request.name = credentials.user
                request.password = credentials.password
                let response: Etcdserverpb_AuthenticateResponse = try Self.decode(
                    await grpc.unary("/etcdserverpb.Auth/Authenticate", request: try request.serializedBytes(), timeout: configuration.connectTimeout)
                )
                token = response.token
            } else {
                // Proves the peer is an etcd server before anything relies on it.
                let _: Etcdserverpb_StatusResponse = try Self.decode(
                    await grpc.unary("/etcdserverpb.Maintenance/Status", request: [], timeout: configuration.connectTimeout)
                )
            }
            logger.debug("etcd connection established", metadata: ["etcd.endpoint": "\(endpoint)"])
            return EtcdConnection(endpoint: endpoint, grpc: grpc, token: token)
        } catch {
            await grpc.close()
            if let status = error as? GRPCStatus {
                switch status.code {
                case .invalidArgument, .unauthenticated, .permissionDenied, .failedPrecondition:
                    throw ToozError(.connectionFailed, "etcd at \(endpoint) refused the credentials: \(status.message)")
                case .unimplemented, .internal:
                    throw ToozError(.connectionFailed, "\(endpoint) is not an etcd v3 server (\(status))")
                case .deadlineExceeded:
                    throw ToozError(.connectionFailed, "\(endpoint) did not answer as an etcd server within \(configuration.connectTimeout)")
                default:
                    throw ToozError(.connectionFailed, "\(endpoint) did not answer as an etcd server (\(status))")
                }
            }
            throw ToozError(.connectionFailed, "cannot set up the etcd connection to \(endpoint)", underlying: error)
        }
    }

    private func moveOn(from endpoint: EtcdClientConfiguration.Endpoint) {
        let endpoints = configuration.endpoints
        guard let index = endpoints.firstIndex(of: endpoint) else { return }
        preferredEndpoint.withLock { if $0 == index { $0 = (index + 1) % endpoints.count } }
    }

    // MARK: Calls

    /// One unary call; `what` names it in errors.
    func call<Response: SwiftProtobuf.Message>(_ path: String, _ request: some SwiftProtobuf.Message, what: String) async throws -> Response {
        let connection = try await connection()
        let bytes: [UInt8] = try request.serializedBytes()
        do {
            return try Self.decode(
                await connection.grpc.unary(path, request: bytes, metadata: connection.metadata, timeout: configuration.operationTimeout)
            )
        } catch let status as GRPCStatus {
            if status.code == .unavailable { link.drop(connection) }
            throw Self.toozError(status, what: what, endpoint: connection.endpoint)
        }
    }

    static func decode<Response: SwiftProtobuf.Message>(_ buffer: ByteBuffer) throws -> Response {
        do {
            return try Response(serializedBytes: Array(buffer.readableBytesView))
        } catch {
            throw GRPCStatus(.internal, "the answer is no \(Response.protoMessageName)")
        }
    }

    static func toozError(_ status: GRPCStatus, what: String, endpoint: EtcdClientConfiguration.Endpoint) -> ToozError {
        switch status.code {
        case .unavailable:
            return ToozError(.connectionFailed, "etcd at \(endpoint) is unavailable for \(what): \(status.message)", underlying: status)
        case .deadlineExceeded:
            return ToozError(.timedOut, "etcd at \(endpoint) did not answer \(what) in time", underlying: status)
        case .cancelled:
            return ToozError(.connectionFailed, "\(what) on etcd at \(endpoint) was cancelled: \(status.message)", underlying: status)
        default:
            return ToozError(.backendError, "etcd at \(endpoint) failed \(what): \(status)", underlying: status)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? ToozError { return error.message }
        return "\(error)"
    }

    // MARK: KV

    package func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await call("/etcdserverpb.KV/Range", request, what: "a range read")
    }

    package func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await call("/etcdserverpb.KV/Put", request, what: "a put")
    }

    package func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await call("/etcdserverpb.KV/DeleteRange", request, what: "a delete")
    }

    package func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await call("/etcdserverpb.KV/Txn", request, what: "a transaction")
    }

    // MARK: Leases

    /// Grants a lease of `ttl` seconds; returns its id and the TTL the server granted.
    package func grantLease(ttl: Int64) async throws -> (id: Int64, ttl: Int64) {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = ttl
        let response: Etcdserverpb_LeaseGrantResponse = try await call("/etcdserverpb.Lease/LeaseGrant", request, what: "a lease grant")
        if !response.error.isEmpty { throw ToozError(.backendError, "etcd refused a lease: \(response.error)") }
        return (response.id, response.ttl)
    }

    /// Revokes a lease: every key on it is deleted.
    package func revokeLease(_ id: Int64) async throws {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = id
        let _: Etcdserverpb_LeaseRevokeResponse = try await call("/etcdserverpb.Lease/LeaseRevoke", request, what: "a lease revoke")
    }

    /// Keeps a lease alive once, over the connection's keepalive stream; returns its TTL in
    /// seconds (0 or less: the lease is gone).
    package func keepAlive(_ id: Int64) async throws -> Int64 {
        let connection = try await connection()
        do {
            return try await withDeadline(configuration.operationTimeout) { try await connection.keepAlives.keepAlive(id) }
        } catch let status as GRPCStatus {
            if status.code == .unavailable { link.drop(connection) }
            throw Self.toozError(status, what: "a lease keepalive", endpoint: connection.endpoint)
        }
    }

    private func withDeadline<Value: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw GRPCStatus(.deadlineExceeded, "no answer within \(limit)")
            }
            return value
        }
    }
}

/// A connection as the client's owner sees it in ``EtcdClient/Hooks/connected``.
package struct EtcdConnectionHandle: Sendable {
    let connection: EtcdConnection

    /// Starts a watch on this connection; see ``EtcdClient/watch(key:rangeEnd:startRevision:listener:)``.
    package func watch(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64, listener: @escaping @Sendable (EtcdWatchNews) -> Void) async throws -> EtcdWatchID {
        let id = try await connection.watches.watch(key: key, rangeEnd: rangeEnd, startRevision: startRevision, listener: listener)
        return EtcdWatchID(id: id, stream: connection.watches)
    }
}

/// A watch to cancel.
package struct EtcdWatchID: Sendable {
    let id: UInt64
    let stream: EtcdWatchStream

    package func cancel() { stream.cancel(id) }
}

extension EtcdClient {
    /// Starts a watch on the current connection: `listener` hears every change of `key` (up to
    /// `rangeEnd`) after `startRevision` (0: from now), and `.interrupted` once if the watch
    /// or its connection ends.
    package func watch(key: [UInt8], rangeEnd: [UInt8]?, startRevision: Int64, listener: @escaping @Sendable (EtcdWatchNews) -> Void) async throws -> EtcdWatchID {
        let connection = try await connection()
        do {
            return try await EtcdConnectionHandle(connection: connection).watch(key: key, rangeEnd: rangeEnd, startRevision: startRevision, listener: listener)
        } catch let status as GRPCStatus {
            throw Self.toozError(status, what: "a watch", endpoint: connection.endpoint)
        }
    }
}
