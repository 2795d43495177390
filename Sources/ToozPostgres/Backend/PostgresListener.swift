import Logging
import PostgresNIO
import Synchronization
import Tooz

/// The one `LISTEN` connection of a backend, open while some event stream follows a group.
///
/// Our writes notify the schema's channel with the group's name (joins, leaves, capability
/// updates, leadership changes, deletion); each notification wakes that group's subscribers,
/// who re-read the group. A member whose connection dies notifies nobody: the core's periodic
/// re-read is what shows it. If the connection drops, every subscriber is woken (they re-read)
/// and the next read of a group listens again.
final class PostgresListener: Sendable {
    private struct Topic {
        let signal: ChangeBroadcast
        var count: Int
    }

    private struct State {
        var topics: [String: Topic] = [:]
        var connection: PostgresConnection?
        var opening = false
        var closed = false
    }

    private let state = Mutex(State())
    private let connector: PostgresConnector
    private let schema: PostgresSchema

    init(connector: PostgresConnector, schema: PostgresSchema) {
        self.connector = connector
        self.schema = schema
    }

    /// Follows `group`: the returned signal is notified on each change.
    func retain(_ group: String) async -> ChangeBroadcast {
        let signal = state.withLock { state -> ChangeBroadcast in
            if var topic = state.topics[group] {
                topic.count += 1
                state.topics[group] = topic
                return topic.signal
            }
            let topic = Topic(signal: ChangeBroadcast(), count: 1)
            state.topics[group] = topic
            return topic.signal
        }
        // Best effort: when listening fails, the core's periodic re-read still shows changes.
        try? await ensureListening()
        return signal
    }

    /// Stops following `group` once; the last one out closes the connection.
    func release(_ group: String) {
        let connection = state.withLock { state -> PostgresConnection? in
            guard var topic = state.topics[group] else { return nil }
            topic.count -= 1
            state.topics[group] = topic.count > 0 ? topic : nil
            guard state.topics.isEmpty else { return nil }
            defer { state.connection = nil }
            return state.connection
        }
        connection?.closeNow()
    }

    /// Opens the connection and listens, if a group is followed and it is not open.
    func ensureListening() async throws {
        let open = state.withLock { state -> Bool in
            guard !state.closed, !state.topics.isEmpty, state.connection == nil, !state.opening else { return false }
            state.opening = true
            return true
        }
        guard open else { return }
        let connection: PostgresConnection
        do {
            connection = try await connector.connect(settings: [("idle_session_timeout", "0")])
        } catch {
            state.withLock { $0.opening = false }
            throw error
        }
        do {
            connection.addListener(channel: schema.channel) { [weak self] _, notification in
                self?.deliver(notification.payload)
            }
            _ = try await connection.rows(
                PostgresQuery(unsafeSQL: "LISTEN \(schema.channel)"), timeout: connector.configuration.statementTimeout,
                doing: "listen for group events", logger: connector.logger
            )
        } catch {
            // A connection whose LISTEN failed (a timeout, a cancelled caller) is of no use:
            // close it rather than drop it open.
            connection.closeNow()
            state.withLock { $0.opening = false }
            throw error
        }
        connection.closeFuture.whenComplete { [weak self] _ in self?.closed(connection) }
        let keep = state.withLock { state -> Bool in
            state.opening = false
            guard !state.closed, !state.topics.isEmpty else { return false }
            state.connection = connection
            return true
        }
        if !keep { connection.closeNow() }
        // What changed before LISTEN took effect was not heard: have everyone read again.
        notifyAll()
    }

    /// Closes the connection for good.
    func close() {
        let connection = state.withLock { state -> PostgresConnection? in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        connection?.closeNow()
    }

    private func deliver(_ group: String) {
        state.withLock { $0.topics[group]?.signal }?.notifyAll()
    }

    private func closed(_ connection: PostgresConnection) {
        state.withLock { state in
            if state.connection === connection { state.connection = nil }
        }
        notifyAll()
    }

    private func notifyAll() {
        for signal in state.withLock({ $0.topics.values.map(\.signal) }) { signal.notifyAll() }
    }
}
