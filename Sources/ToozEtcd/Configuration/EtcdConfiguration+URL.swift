import Foundation
import NIOSSL
import Tooz

extension EtcdConfiguration {
    /// The options an `etcd3+http://` URL accepts: tooz 9.1.0's (`api_version` is accepted
    /// and ignored: gRPC has no API path), ours (`endpoints`), and the common
    /// ``CoordinatorConfiguration/urlOptions``.
    package static let urlOptions: Set<String> = CoordinatorConfiguration.urlOptions.union([
        "api_version", "executor", "ca_cert", "cert_key", "cert_cert", "endpoints", "server_name",
    ])

    /// The schemes of this backend: tooz's two and our short alias.
    package static let schemes: Set<String> = ["etcd3+http", "etcd3+https", "etcd", "etcds"]

    /// The port etcd serves clients on when the URL names none.
    package static let defaultPort = 2379

    /// Builds the configuration for `etcd3+http[s]://[USER:PASSWORD@][HOST[:PORT]][?opts]`
    /// (`localhost:2379` by default; `etcd://` is `etcd3+http://`).
    ///
    /// tooz's `timeout` (default 30 s) is the request timeout and the membership and lock TTL
    /// unless `membership_timeout` or `lock_timeout` say otherwise. `endpoints=h1:p1,h2:p2`
    /// adds members to fail over to. A user and password turn on etcd authentication.
    ///
    /// - Throws: `invalidConfiguration` naming the option or part of the URL that is wrong.
    package static func make(url: BackendURL) throws(ToozError) -> (EtcdConfiguration, CoordinatorConfiguration) {
        guard schemes.contains(url.scheme) else {
            throw ToozError(.invalidConfiguration, "\(url.redacted) is not an etcd3+http:// URL")
        }
        try url.validateOptions(accepted: urlOptions)
        guard url.path.isEmpty || url.path == "/" else {
            throw ToozError(.invalidConfiguration, "an etcd URL takes no path (\(url.path.debugDescription)); name more members with endpoints=")
        }
        if let version = url.option("api_version"), !["v3", "v3beta", "v3alpha"].contains(version) {
            throw ToozError(.invalidConfiguration, "api_version \(version.debugDescription) is not one of v3, v3beta, v3alpha")
        }

        var coordination = CoordinatorConfiguration()
        try coordination.apply(url, timeoutMeans: .allTTLs)
        let shortest = min(coordination.membershipTTL, coordination.lockTTL, coordination.leaderTTL)
        guard shortest >= .seconds(2) else {
            throw ToozError(.invalidConfiguration, "etcd leases last whole seconds and at least 2; a TTL of \(shortest) is too short")
        }
        guard shortest <= .seconds(Int64(Int32.max)) else {
            throw ToozError(.invalidConfiguration, "a TTL of \(shortest) is longer than etcd can keep a lease")
        }

        var endpoints = [EtcdClientConfiguration.Endpoint(host: url.host ?? "localhost", port: url.port ?? defaultPort)]
        if let list = url.option("endpoints") {
            for item in list.split(separator: ",", omittingEmptySubsequences: false) {
                endpoints.append(try endpoint(String(item)))
            }
        }
        var client = EtcdClientConfiguration(endpoints: dedup(endpoints))
        if let timeout = try url.durationOption("timeout") {
            client.operationTimeout = timeout
            client.connectTimeout = min(timeout, .seconds(5))
        }
        switch (url.user, url.password) {
        case (nil, nil): break
        case (let user?, let password?) where !user.isEmpty: client.credentials = (user, password)
        default:
            throw ToozError(.invalidConfiguration, "etcd authentication needs both a user and a password in \(url.redacted)")
        }

        let secure = url.scheme == "etcd3+https" || url.scheme == "etcds"
        let tlsOptions = ["ca_cert", "cert_key", "cert_cert", "server_name"]
        if secure {
            client.tls = try tlsContext(url)
            client.tlsServerName = url.option("server_name")
        } else if let option = tlsOptions.first(where: { url.option($0) != nil }) {
            throw ToozError(.invalidConfiguration, "\(option) needs etcd3+https:// in \(url.redacted); over http the connection is not encrypted")
        }
        let seconds = (shortest.components.seconds) + (shortest.components.attoseconds > 0 ? 1 : 0)
        return (EtcdConfiguration(client: client, sessionTTL: .seconds(seconds)), coordination)
    }

    private static func dedup(_ endpoints: [EtcdClientConfiguration.Endpoint]) -> [EtcdClientConfiguration.Endpoint] {
        var seen: Set<EtcdClientConfiguration.Endpoint> = []
        return endpoints.filter { seen.insert($0).inserted }
    }

    private static func endpoint(_ text: String) throws(ToozError) -> EtcdClientConfiguration.Endpoint {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        for scheme in ["http://", "https://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard !rest.contains(where: { $0 == "/" || $0 == "@" || $0.isWhitespace }) else {
            throw ToozError(.invalidConfiguration, "endpoint \(text.debugDescription) is not HOST[:PORT]")
        }
        let (host, port) = try HostPort.parse(rest, defaultPort: defaultPort)
        return EtcdClientConfiguration.Endpoint(host: host, port: port)
    }

    private static func tlsContext(_ url: BackendURL) throws(ToozError) -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = ["h2"]
        do {
            if let ca = url.option("ca_cert") {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            switch (url.option("cert_cert"), url.option("cert_key")) {
            case (nil, nil): break
            case (let cert?, let key?):
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            default:
                throw ToozError(.invalidConfiguration, "cert_cert and cert_key go together; only one is set")
            }
            return try NIOSSLContext(configuration: tls)
        } catch let error as ToozError {
            throw error
        } catch {
            throw ToozError(.invalidConfiguration, "the TLS files of \(url.redacted) are not usable (ca_cert, cert_cert, cert_key must be readable PEM)", underlying: error)
        }
    }
}
