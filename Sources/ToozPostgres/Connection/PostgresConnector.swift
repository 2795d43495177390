import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Tooz

/// Opens connections to the server, every one on the backend's event loop, with the startup
/// settings its role needs (an idle timeout, an application name).
package struct PostgresConnector: Sendable {
    package let configuration: PostgresConfiguration
    package let eventLoop: any EventLoop
    package let logger: Logger
    private let sslContext: NIOSSLContext?

    package init(configuration: PostgresConfiguration, eventLoop: any EventLoop, logger: Logger) throws(ToozError) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.sslContext = try Self.makeSSLContext(configuration.tls)
    }

    /// Connects and authenticates. `settings` are run-time parameters sent in the startup
    /// packet (`idle_session_timeout`, …).
    ///
    /// - Throws: `connectionFailed` with the server's reason (a wrong password, an unknown
    ///   database) or the network's; never the password.
    package func connect(settings: [(String, String)] = []) async throws -> PostgresConnection {
        var postgres: PostgresConnection.Configuration
        switch configuration.endpoint {
        case .tcp(let host, let port):
            postgres = PostgresConnection.Configuration(
                host: host, port: port, username: configuration.username, password: configuration.password,
                database: configuration.database, tls: tls
            )
        case .unixSocket(let path):
            postgres = PostgresConnection.Configuration(
                unixSocketPath: path, username: configuration.username, password: configuration.password,
                database: configuration.database
            )
        }
        postgres.options.connectTimeout = .nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000 + configuration.connectTimeout.components.attoseconds / 1_000_000_000)
        postgres.options.additionalStartupParameters = [("application_name", "swift-tooz")] + settings
        do {
            return try await Self.connect(postgres, on: eventLoop, within: configuration.connectTimeout, logger: logger)
        } catch {
            throw PostgresErrors.connectFailure(error, configuration: configuration)
        }
    }

    /// postgres-nio's `connectTimeout` bounds the TCP connect only: a server that accepts and
    /// then says nothing (frozen, overloaded, not PostgreSQL) would hold the startup and the
    /// authentication forever. This bounds the whole of it.
    private static func connect(
        _ configuration: PostgresConnection.Configuration, on eventLoop: any EventLoop, within limit: Duration, logger: Logger
    ) async throws -> PostgresConnection {
        try await withThrowingTaskGroup(of: PostgresConnection?.self) { group in
            group.addTask {
                try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: nextID(), logger: logger)
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first: PostgresConnection??
            do {
                first = try await group.next()
            } catch {
                group.cancelAll()
                while let late = try? await group.next() {
                    if let late { try? await late.close() }
                }
                throw error
            }
            group.cancelAll()
            // A connection made just as the time ran out is not leaked.
            while let late = try? await group.next() {
                if let late { try? await late.close() }
            }
            guard let connection = first ?? nil else {
                throw ToozError(.connectionFailed, "no answer to the PostgreSQL handshake within \(limit)")
            }
            return connection
        }
    }

    private var tls: PostgresConnection.Configuration.TLS {
        guard let sslContext else { return .disable }
        return configuration.tls.mode == .prefer ? .prefer(sslContext) : .require(sslContext)
    }

    private static let ids = Mutex(0)
    fileprivate static func nextID() -> Int {
        ids.withLock {
            $0 += 1
            return $0
        }
    }

    private static func makeSSLContext(_ tls: PostgresTLSConfiguration) throws(ToozError) -> NIOSSLContext? {
        guard tls.mode != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls.mode {
        case .disable, .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        do {
            if let path = tls.rootCertificatePath {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            }
            if let certificate = tls.certificatePath, let key = tls.keyPath {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ToozError(.invalidConfiguration, "could not load the TLS certificates or key for postgresql://: \(error)", underlying: error)
        }
    }
}

import Synchronization
