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
            return try await PostgresConnection.connect(on: eventLoop, configuration: postgres, id: Self.nextID(), logger: logger)
        } catch {
            throw PostgresErrors.connectFailure(error, configuration: configuration)
        }
    }

    private var tls: PostgresConnection.Configuration.TLS {
        guard let sslContext else { return .disable }
        return configuration.tls.mode == .prefer ? .prefer(sslContext) : .require(sslContext)
    }

    private static let ids = Mutex(0)
    private static func nextID() -> Int {
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
