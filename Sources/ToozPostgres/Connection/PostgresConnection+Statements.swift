import Logging
import NIOCore
import PostgresNIO
import Synchronization
import Tooz
import ToozNIO

extension PostgresConnection {
    /// What a cancelled caller does to its statement.
    enum OnCancel {
        /// Close the connection: the statement fails at once and whatever the session held on
        /// the server (advisory locks, a lock wait) ends with it. For a connection of one lease.
        case closeConnection
        /// Leave the statement to finish (its timeout still bounds it) and return at once: a
        /// shared connection must not be closed under the other callers' statements.
        case abandonStatement
    }

    /// Runs one statement and collects its rows, bounded by `timeout`.
    ///
    /// postgres-nio cannot cancel a statement in flight: a statement that outlives `timeout` (a
    /// frozen server, a half-open connection) closes the connection, and a cancelled caller does
    /// what `onCancel` says. Either way the caller returns at once: it never waits on
    /// postgres-nio's answer alone, which a statement written to a connection that has just
    /// closed never gets (seen as a test that hung for good after a server restart).
    ///
    /// - Throws: `timedOut` after `timeout`; `CancellationError` when cancelled; the mapped
    ///   server or connection error otherwise.
    func rows(
        _ query: PostgresQuery, timeout: Duration, doing what: String, logger: Logger, onCancel: OnCancel = .closeConnection
    ) async throws -> [PostgresRow] {
        guard !isClosed else {
            throw ToozError(.connectionFailed, "the PostgreSQL connection was lost before trying to \(what)")
        }
        let answer = FirstOutcome<[PostgresRow]>()
        let result: EventLoopFuture<PostgresQueryResult> = self.query(query, logger: logger)
        result.whenComplete { answer.finish($0.map(\.rows)) }
        let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            // An answer that came first (a starved caller has not read it yet) keeps the
            // connection: closing it then would end a session that did nothing wrong.
            if answer.finish(.failure(StatementExpired())) { self.closeNow() }
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await answer.value()
            } onCancel: {
                answer.finish(.failure(CancellationError()))
                if case .closeConnection = onCancel { self.closeNow() }
            }
        } catch is StatementExpired {
            throw ToozError(.timedOut, "PostgreSQL did not answer within \(timeout) while trying to \(what); the connection was closed")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PostgresErrors.statementFailure(error, doing: what)
        }
    }

    private struct StatementExpired: Error {}

    /// Runs one of our fixed statements and returns its first row, bounded as
    /// ``rows(_:timeout:doing:logger:)``.
    ///
    /// Sent as an unnamed statement (parsed on every call): measured on PostgreSQL 15 through
    /// postgres-nio 1.33, a lock cycle took 145 µs this way and 205 µs as named prepared
    /// statements.
    func firstRow<Statement: PostgresFixedStatement>(
        _ statement: Statement, timeout: Duration, doing what: String, logger: Logger, onCancel: OnCancel = .closeConnection
    ) async throws -> Statement.Row? {
        let rows = try await self.rows(
            PostgresQuery(unsafeSQL: Statement.sql, binds: statement.bindings), timeout: timeout, doing: what, logger: logger,
            onCancel: onCancel
        )
        guard let row = rows.first else { return nil }
        do {
            return try statement.decode(row)
        } catch {
            throw ToozError(.backendError, "PostgreSQL answered an unexpected row while trying to \(what)", underlying: error)
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension PostgresRow {
    /// The cell at `index` as `T`, or a `backendError` naming what was read.
    func value<T: PostgresDecodable>(_ index: Int, as type: T.Type, _ what: String) throws(ToozError) -> T {
        do {
            return try makeRandomAccess()[index].decode(T.self)
        } catch {
            throw ToozError(.backendError, "PostgreSQL answered \(what) with a value that is not a \(T.self)", underlying: error)
        }
    }
}

extension PostgresConnection {
    /// Closes the connection without waiting (from a callback, a `defer`, a cancellation).
    ///
    /// The connection is kept alive until it has closed: postgres-nio asserts, in debug builds,
    /// that a connection is closed when it is freed, and the last reference to a `LISTEN`
    /// connection can be one of its own callbacks, released halfway through the close (a crash
    /// seen in CI).
    func closeNow() {
        let closed: EventLoopFuture<Void> = close()
        closed.whenComplete { _ in withExtendedLifetime(self) {} }
    }
}
