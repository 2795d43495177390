import ToozServerTestSupport
import Foundation
import Logging
import Testing
import ToozBackends
import ToozRedis
import ToozTestKit

/// The redis:// URL forms end to end: each test starts its own redis-server the way the URL
/// needs it and runs a coordinator through it.
@Suite(
    "Redis backend URL forms",
    .enabled(if: RedisTestServer.testsEnabled, "redis-server is not installed (scripts/test installs it)"),
    .timeLimit(.minutes(3))
)
struct RedisBackendTransportTests {
    /// A group, a member with capabilities and a lock: enough to show the URL reached a server.
    private static func exercise(_ url: String) async throws {
        let (backend, configuration) = try BackendFactory.makeBackend(url: url)
        let coordinator = try Coordinator(backend: backend, member: "transport", configuration: configuration.patient)
        try await coordinator.withRunning {
            try await coordinator.createGroup("transport")
            try await coordinator.join("transport", capabilities: ["via": "url"])
            #expect(try await coordinator.membersWithCapabilities(of: "transport") == ["transport": ["via": "url"]])
            let lease = try #require(try await coordinator.lock(named: "transport").tryAcquire())
            #expect(try await lease.release())
            try await coordinator.leave("transport")
            try await coordinator.deleteGroup("transport")
        }
    }

    @Test func unixSocket() async throws {
        try await RedisTestServer.withServer { server in
            try await Self.exercise("redis://" + server.unixSocketPath)
        }
    }

    @Test func passwordAndUserNameWithPassword() async throws {
        try await RedisTestServer.withServer(arguments: ["--requirepass", "pw one"]) { server in
            try await Self.exercise("redis://:pw%20one@127.0.0.1:\(server.port)")
            let refused = try Coordinator(url: "redis://:wrong@127.0.0.1:\(server.port)", member: "intruder")
            let error = await #expect(throws: ToozError.self) { try await refused.withRunning {} }
            #expect(error?.code == .connectionFailed)
            #expect(error.map { !"\($0)".contains("wrong") } == true, "the password leaked: \(String(describing: error))")
        }
        try await RedisTestServer.withServer(arguments: ["--user", "app", "on", ">app-secret", "~*", "&*", "+@all"]) { server in
            try await Self.exercise("redis://app:app-secret@127.0.0.1:\(server.port)")
        }
    }

    @Test func databaseSelection() async throws {
        try await RedisTestServer.withServer { server in
            try await Self.exercise("redis://127.0.0.1:\(server.port)?db=5")
            let keys = try await RedisSentinelTestSetup.ask(server.endpoint, RedisCommand("INFO", "keyspace"), .init(label: "test"))
            // Only the shared fencing counter outlives the test, and it lives in db 5.
            #expect(keys.string?.contains("db5:keys=1") == true, "\(keys.string ?? "")")
            #expect(keys.string?.contains("db0:") == false)
        }
    }

    @Test func tlsWithClientCertificate() async throws {
        let directory = try RedisTestServer.makeTemporaryDirectory()
        defer { RedisTestServer.removeTree(directory) }
        let files = try RedisTestServer.makeCertificates(in: directory)
        try await RedisTestServer.withServer(tls: files.serverTLS(authClients: "yes")) { server in
            try await Self.exercise(
                "redis://127.0.0.1:\(server.port)?ssl=true&ssl_ca_certs=\(files.caCertificatePath)"
                    + "&ssl_certfile=\(files.clientCertificatePath)&ssl_keyfile=\(files.clientKeyPath)"
            )
            let plain = try Coordinator(url: "redis://127.0.0.1:\(server.port)?socket_connect_timeout=2&timeout=3", member: "plain")
            let error = await #expect(throws: ToozError.self) { try await plain.withRunning {} }
            #expect(error?.code == .connectionFailed)
        }
    }

    @Test func anUnexpectedErrorReplyIsABackendErrorAndTheConnectionLivesOn() async throws {
        try await RedisTestServer.withServer { server in
            // Someone else's data where tooz's group set should be: every script touching it fails.
            _ = try await RedisSentinelTestSetup.ask(server.endpoint, RedisCommand("SET", "_tooz_groups", "not a set"), .init(label: "test"))
            let coordinator = try Coordinator(url: "redis://127.0.0.1:\(server.port)", member: "m")
            try await coordinator.withRunning {
                let error = await #expect(throws: ToozError.self) { try await coordinator.createGroup("g") }
                #expect(error?.code == .backendError)
                #expect(error?.message.contains("WRONGTYPE") == true, "\(String(describing: error))")
                // Nothing was half-written, and the connection still serves.
                let group = try await RedisSentinelTestSetup.ask(server.endpoint, RedisCommand("EXISTS", "_tooz_group:g"), .init(label: "test"))
                #expect(group == .integer(0))
                let lease = try #require(try await coordinator.lock(named: "still-fine").tryAcquire())
                #expect(try await lease.release())
            }
        }
    }
}
