import PostgresNIO
import Tooz

/// Turns postgres-nio's errors into ``ToozError``s with the server's own words (its SQLSTATE
/// and message), never the query's parameters or the password.
package enum PostgresErrors {
    /// SQLSTATE of a lock wait that ran out of `lock_timeout`.
    package static let lockNotAvailable = "55P03"

    /// The SQLSTATE of a server error, if `error` is one.
    package static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether `error` means the connection is gone (closed, reset, never made).
    package static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return error is ChannelError || error is IOError }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown: return true
        case .server:
            // admin_shutdown, crash_shutdown, cannot_connect_now, idle_session_timeout.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        default: return false
        }
    }

    /// A failed statement, as a ToozError of the right code.
    package static func statementFailure(_ error: any Error, doing what: String) -> ToozError {
        if let error = error as? ToozError { return error }
        if isConnectionLoss(error) {
            return ToozError(.connectionFailed, "the PostgreSQL connection was lost while trying to \(what)\(serverWords(error))", underlying: error)
        }
        if let psql = error as? PSQLError, psql.code == .server {
            let state = psql.serverInfo?[.sqlState] ?? "?????"
            let code: ToozError.Code = state == "57014" ? .timedOut : .backendError
            return ToozError(code, "PostgreSQL refused to \(what): \(psql.serverInfo?[.message] ?? "an error") (SQLSTATE \(state))", underlying: error)
        }
        return ToozError(.backendError, "could not \(what) on PostgreSQL: \(describe(error))", underlying: error)
    }

    /// A failed connection attempt: the server's reason (authentication, an unknown database)
    /// or the network's.
    package static func connectFailure(_ error: any Error, configuration: PostgresConfiguration) -> ToozError {
        if let error = error as? ToozError { return error }
        let psql = error as? PSQLError
        let reason: String
        if let psql, psql.code == .server, let message = psql.serverInfo?[.message] {
            reason = "\(message) (SQLSTATE \(psql.serverInfo?[.sqlState] ?? "?????"))"
        } else {
            reason = describe(error)
        }
        return ToozError(.connectionFailed, "could not connect to PostgreSQL as \(configuration): \(reason)", underlying: error)
    }

    private static func serverWords(_ error: any Error) -> String {
        guard let psql = error as? PSQLError, let message = psql.serverInfo?[.message] else { return "" }
        return ": \(message)"
    }

    /// postgres-nio's own description of its errors hides their code; this names it.
    private static func describe(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let underlying = psql.underlying { return "\(psql.code) (\(underlying))" }
            return "\(psql.code)"
        }
        return "\(error)"
    }
}
