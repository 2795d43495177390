import Logging
import NIOCore
import Tooz

/// Finds the current master of a Sentinel-monitored Redis and connects to it.
///
/// Sentinels are asked in order (`SENTINEL get-master-addr-by-name`); the address one gives is
/// confirmed with `ROLE` on the master itself, because a sentinel that has not yet seen a
/// failover can name the old master, which would then refuse our writes as a replica.
struct RedisSentinelDiscovery {
    var masterName: String
    var sentinels: [RedisEndpoint]
    var sentinelConfiguration: RedisConnectionConfiguration
    var masterConfiguration: RedisConnectionConfiguration
    var eventLoopGroup: any EventLoopGroup
    var logger: Logger

    /// Connects to the master; `onMessage`, `onInvalidation` and `onClose` are handed to its connection.
    func connectToMaster(
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onInvalidation: (@Sendable (RedisInvalidation) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil
    ) async throws -> RedisConnection {
        var problems: [String] = []
        for sentinel in sentinels {
            let address: RedisEndpoint
            do {
                address = try await askForMaster(sentinel)
            } catch {
                problems.append("\(sentinel): \(Self.describe(error))")
                continue
            }
            do {
                let master = try await RedisConnection.connect(
                    to: address, configuration: masterConfiguration, eventLoopGroup: eventLoopGroup, logger: logger,
                    onMessage: onMessage, onInvalidation: onInvalidation, onClose: onClose
                )
                let role = try await master.send(RedisCommand("ROLE"))
                if Self.firstElement(of: role) == "master" {
                    logger.debug("sentinel named the redis master", metadata: ["sentinel": "\(sentinel)", "master": "\(address)"])
                    return master
                }
                await master.close()
                problems.append("\(sentinel) named \(address), which is not a master (ROLE: \(Self.firstElement(of: role) ?? "?"))")
            } catch {
                problems.append("\(sentinel) named \(address), which failed: \(Self.describe(error))")
            }
        }
        throw ToozError(
            .connectionFailed,
            "no sentinel named a reachable master \(masterName.debugDescription): \(problems.joined(separator: "; "))"
        )
    }

    /// One sentinel's answer to `SENTINEL get-master-addr-by-name`.
    private func askForMaster(_ sentinel: RedisEndpoint) async throws -> RedisEndpoint {
        let connection = try await RedisConnection.connect(
            to: sentinel, configuration: sentinelConfiguration, eventLoopGroup: eventLoopGroup, logger: logger
        )
        let reply: RESPValue
        do {
            reply = try await connection.send(RedisCommand("SENTINEL", "get-master-addr-by-name", masterName))
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return try Self.masterAddress(from: reply, masterName: masterName)
    }

    /// Parses `[host, port]`; a null means the sentinel does not monitor `masterName`.
    static func masterAddress(from reply: RESPValue, masterName: String) throws(ToozError) -> RedisEndpoint {
        if let message = reply.errorMessage {
            throw ToozError(.connectionFailed, "the sentinel refused: \(message)")
        }
        if reply.isNull {
            throw ToozError(.invalidConfiguration, "the sentinel does not monitor a master named \(masterName.debugDescription)")
        }
        guard case .array(.some(let parts)) = reply, parts.count == 2,
            let host = parts[0].string, let portText = parts[1].string,
            let port = Int(portText), (1...65_535).contains(port)
        else {
            throw ToozError(.backendError, "the sentinel gave an address for \(masterName.debugDescription) that is not [host, port]")
        }
        return .tcp(host: host, port: port)
    }

    private static func firstElement(of reply: RESPValue) -> String? {
        guard case .array(.some(let parts)) = reply else { return nil }
        return parts.first?.string
    }

    private static func describe(_ error: any Error) -> String {
        (error as? ToozError)?.message ?? String(describing: error)
    }
}
