import Tooz

/// The ZooKeeper cause of a failed ``ZooKeeperClient`` call, carried as the `underlying` error
/// of the `ToozError` the call throws.
///
/// The client maps codes to `ToozError` codes as follows (the backend then maps the remaining
/// `backendError`s per operation, for example `NODEEXISTS` on a join to `memberAlreadyJoined`):
///
/// | ZooKeeper | ToozError | why |
/// |---|---|---|
/// | `CONNECTIONLOSS` | `connectionFailed` | the request may or may not have been applied |
/// | `SESSIONEXPIRED` | `leaseLost` | every ephemeral node and watch of the session is gone, so whatever the caller held through it is lost; retrying blindly is wrong |
/// | `AUTHFAILED` | `connectionFailed` | the server refused the credentials; the session is unusable |
/// | `OPERATIONTIMEOUT` | `timedOut` | no reply within the operation timeout (the client's own limit) |
/// | any other (`NONODE`, `NODEEXISTS`, `NOTEMPTY`, `BADVERSION`, `NOAUTH`, …) | `backendError` | the message names the code and the path |
package struct ZooKeeperError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What the server (or the session) answered.
    package var code: ZooKeeperErrorCode
    /// The operation, as the Java client names it (`create`, `getData`, `multi`, …).
    package var operation: String
    /// The path the caller gave (relative to the chroot), when the operation has one.
    package var path: String?
    /// For a `multi`, the position of the operation that failed and rolled the rest back.
    package var failedOperationIndex: Int?

    package init(code: ZooKeeperErrorCode, operation: String, path: String?, failedOperationIndex: Int? = nil) {
        self.code = code
        self.operation = operation
        self.path = path
        self.failedOperationIndex = failedOperationIndex
    }

    package var description: String {
        var text = "ZooKeeper \(self.operation)"
        if let path { text += " \(path)" }
        if let failedOperationIndex { text += " (operation \(failedOperationIndex))" }
        return text + ": \(self.code)"
    }

    /// The `ToozError` a caller sees, with this error as its `underlying` error.
    package var toozError: ToozError {
        let subject = self.path.map { "\(self.operation) \($0)" } ?? self.operation
        switch self.code {
        case .connectionLoss:
            return ToozError(
                .connectionFailed,
                "the connection to ZooKeeper was lost before the reply to \(subject); it may or may not have been applied",
                underlying: self
            )
        case .sessionExpired:
            return ToozError(
                .leaseLost,
                "the ZooKeeper session expired before \(subject) completed: its ephemeral nodes and watches are gone",
                underlying: self
            )
        case .authFailed:
            return ToozError(
                .connectionFailed,
                "ZooKeeper refused the client's credentials, which ends the session; \(subject) failed",
                underlying: self
            )
        case .operationTimeout:
            return ToozError(.timedOut, "no reply from ZooKeeper to \(subject) in time", underlying: self)
        default:
            let position = self.failedOperationIndex.map { " at operation \($0)" } ?? ""
            return ToozError(.backendError, "ZooKeeper \(subject) failed\(position): \(self.code)", underlying: self)
        }
    }
}

extension ToozError {
    /// The ZooKeeper cause of this error, when a ``ZooKeeperClient`` call threw it.
    package var zooKeeperError: ZooKeeperError? { self.underlying as? ZooKeeperError }

    /// The ZooKeeper error code behind this error (`NONODE`, `BADVERSION`, …), if any.
    package var zooKeeperCode: ZooKeeperErrorCode? { self.zooKeeperError?.code }
}
