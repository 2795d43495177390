#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import ToozServerTestSupport
import Testing
import ToozRedis

/// One master, one replica and one sentinel on loopback, for failover tests. Every process is
/// started by the test and stopped by pid.
final class RedisSentinelTestSetup: Sendable {
    static let masterName = "toozmaster"

    let master: RedisTestServer
    let replica: RedisTestServer
    let sentinelPort: Int
    let sentinelDirectory: String
    private let sentinelPID: pid_t

    private init(master: RedisTestServer, replica: RedisTestServer, sentinelPort: Int, sentinelDirectory: String, sentinelPID: pid_t) {
        self.master = master
        self.replica = replica
        self.sentinelPort = sentinelPort
        self.sentinelDirectory = sentinelDirectory
        self.sentinelPID = sentinelPID
    }

    /// Runs `body` with a running setup whose replica is in sync and known to the sentinel.
    static func with<T>(_ body: (RedisSentinelTestSetup) async throws -> T) async throws -> T {
        let master = try await RedisTestServer.start()
        let replica: RedisTestServer
        do {
            replica = try await RedisTestServer.start(arguments: ["--replicaof", "127.0.0.1", String(master.port)])
        } catch {
            await master.stopAndRemove()
            throw error
        }
        var setup: RedisSentinelTestSetup?
        do {
            setup = try await startSentinel(master: master, replica: replica)
            let result = try await body(setup!)
            await setup!.stop()
            return result
        } catch {
            if let setup { await setup.stop() } else {
                await master.stopAndRemove()
                await replica.stopAndRemove()
            }
            throw error
        }
    }

    private static func startSentinel(master: RedisTestServer, replica: RedisTestServer) async throws -> RedisSentinelTestSetup {
        let directory = try RedisTestServer.makeTemporaryDirectory()
        let port = try RedisTestServer.freePort()
        let configuration = """
            port \(port)
            bind 127.0.0.1
            daemonize no
            dir \(directory)
            logfile \(directory)/sentinel.log
            sentinel monitor \(masterName) 127.0.0.1 \(master.port) 1
            sentinel down-after-milliseconds \(masterName) 1000
            sentinel failover-timeout \(masterName) 5000
            sentinel parallel-syncs \(masterName) 1

            """
        try configuration.write(toFile: directory + "/sentinel.conf", atomically: true, encoding: .utf8)
        let executable = RedisTestServer.executable ?? "redis-server"
        let pid = try ServerProcess.spawn(
            [executable, directory + "/sentinel.conf", "--sentinel"], output: directory + "/sentinel.out"
        )
        let setup = RedisSentinelTestSetup(
            master: master, replica: replica, sentinelPort: port, sentinelDirectory: directory, sentinelPID: pid
        )
        do {
            try await setup.waitUntilReady()
        } catch {
            await setup.stop()
            throw error
        }
        return setup
    }

    /// Until the replica has synced and the sentinel lists it, a failover could not happen.
    private func waitUntilReady() async throws {
        let logger = Logger(label: "test.sentinel")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let replicaInfo = try? await Self.ask(replica.endpoint, RedisCommand("INFO", "replication"), logger),
                replicaInfo.string?.contains("master_link_status:up") == true,
                let replicas = try? await Self.ask(
                    .tcp(host: "127.0.0.1", port: sentinelPort), RedisCommand("SENTINEL", "replicas", Self.masterName), logger
                ),
                case .array(.some(let list)) = replicas, !list.isEmpty
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisTestServer.Failure.didNotStart("the sentinel setup was not ready within 60 s")
    }

    /// One command on a fresh connection.
    static func ask(_ endpoint: RedisEndpoint, _ command: RedisCommand, _ logger: Logger) async throws -> RESPValue {
        var configuration = RedisConnectionConfiguration()
        configuration.connectTimeout = .seconds(2)
        configuration.commandTimeout = .seconds(5)
        let connection = try await RedisConnection.connect(to: endpoint, configuration: configuration, logger: logger)
        do {
            let reply = try await connection.send(command)
            await connection.close()
            return reply
        } catch {
            await connection.close()
            throw error
        }
    }

    func stop() async {
        await ServerProcess.stop(sentinelPID)
        RedisTestServer.removeTree(sentinelDirectory)
        await master.stopAndRemove()
        await replica.stopAndRemove()
    }
}
