/// A ZooKeeper error code (`KeeperException.Code`), as carried by a reply header or a multi
/// result.
///
/// An open set: a code the client does not name still round-trips. It is an `Error` so that a
/// request can fail with it directly; the backend turns it into a `ToozError` with the path.
package struct ZooKeeperErrorCode: RawRepresentable, Hashable, Sendable, Error, CustomStringConvertible {
    package var rawValue: Int32

    package init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    package static let ok = ZooKeeperErrorCode(rawValue: 0)
    package static let systemError = ZooKeeperErrorCode(rawValue: -1)
    package static let runtimeInconsistency = ZooKeeperErrorCode(rawValue: -2)
    package static let dataInconsistency = ZooKeeperErrorCode(rawValue: -3)
    /// The connection to the server broke; the request may or may not have been applied.
    package static let connectionLoss = ZooKeeperErrorCode(rawValue: -4)
    package static let marshallingError = ZooKeeperErrorCode(rawValue: -5)
    package static let unimplemented = ZooKeeperErrorCode(rawValue: -6)
    package static let operationTimeout = ZooKeeperErrorCode(rawValue: -7)
    package static let badArguments = ZooKeeperErrorCode(rawValue: -8)
    package static let unknownSession = ZooKeeperErrorCode(rawValue: -12)
    package static let newConfigNoQuorum = ZooKeeperErrorCode(rawValue: -13)
    package static let reconfigInProgress = ZooKeeperErrorCode(rawValue: -14)
    package static let apiError = ZooKeeperErrorCode(rawValue: -100)
    package static let noNode = ZooKeeperErrorCode(rawValue: -101)
    package static let noAuth = ZooKeeperErrorCode(rawValue: -102)
    package static let badVersion = ZooKeeperErrorCode(rawValue: -103)
    package static let noChildrenForEphemerals = ZooKeeperErrorCode(rawValue: -108)
    package static let nodeExists = ZooKeeperErrorCode(rawValue: -110)
    package static let notEmpty = ZooKeeperErrorCode(rawValue: -111)
    package static let sessionExpired = ZooKeeperErrorCode(rawValue: -112)
    package static let invalidCallback = ZooKeeperErrorCode(rawValue: -113)
    package static let invalidACL = ZooKeeperErrorCode(rawValue: -114)
    package static let authFailed = ZooKeeperErrorCode(rawValue: -115)
    package static let sessionMoved = ZooKeeperErrorCode(rawValue: -118)
    package static let notReadOnly = ZooKeeperErrorCode(rawValue: -119)
    package static let ephemeralOnLocalSession = ZooKeeperErrorCode(rawValue: -120)
    package static let noWatcher = ZooKeeperErrorCode(rawValue: -121)
    package static let requestTimeout = ZooKeeperErrorCode(rawValue: -122)
    package static let reconfigDisabled = ZooKeeperErrorCode(rawValue: -123)
    package static let sessionClosedRequireSASLAuth = ZooKeeperErrorCode(rawValue: -124)
    package static let quotaExceeded = ZooKeeperErrorCode(rawValue: -125)
    package static let throttledOp = ZooKeeperErrorCode(rawValue: -127)

    private static let table: [Int32: (name: String, meaning: String)] = [
        0: ("OK", "no error"),
        -1: ("SYSTEMERROR", "system error"),
        -2: ("RUNTIMEINCONSISTENCY", "a runtime inconsistency was found"),
        -3: ("DATAINCONSISTENCY", "a data inconsistency was found"),
        -4: ("CONNECTIONLOSS", "the connection to the server was lost"),
        -5: ("MARSHALLINGERROR", "error while marshalling or unmarshalling data"),
        -6: ("UNIMPLEMENTED", "the operation is not implemented"),
        -7: ("OPERATIONTIMEOUT", "the operation timed out"),
        -8: ("BADARGUMENTS", "invalid arguments"),
        -12: ("UNKNOWNSESSION", "unknown session"),
        -13: ("NEWCONFIGNOQUORUM", "no quorum of the new configuration is connected"),
        -14: ("RECONFIGINPROGRESS", "another reconfiguration is in progress"),
        -100: ("APIERROR", "API error"),
        -101: ("NONODE", "the node does not exist"),
        -102: ("NOAUTH", "not authenticated"),
        -103: ("BADVERSION", "version conflict"),
        -108: ("NOCHILDRENFOREPHEMERALS", "ephemeral nodes may not have children"),
        -110: ("NODEEXISTS", "the node already exists"),
        -111: ("NOTEMPTY", "the node has children"),
        -112: ("SESSIONEXPIRED", "the session has expired"),
        -113: ("INVALIDCALLBACK", "invalid callback"),
        -114: ("INVALIDACL", "invalid ACL"),
        -115: ("AUTHFAILED", "client authentication failed"),
        -118: ("SESSIONMOVED", "the session moved to another server"),
        -119: ("NOTREADONLY", "a state-changing request was sent to a read-only server"),
        -120: ("EPHEMERALONLOCALSESSION", "ephemeral node on a local session"),
        -121: ("NOWATCHER", "no such watcher"),
        -122: ("REQUESTTIMEOUT", "the request was not completed in time"),
        -123: ("RECONFIGDISABLED", "reconfiguration is disabled"),
        -124: ("SESSIONCLOSEDREQUIRESASLAUTH", "the server requires SASL authentication"),
        -125: ("QUOTAEXCEEDED", "the quota of the path is exceeded"),
        -127: ("THROTTLEDOP", "the server throttled the operation"),
    ]

    /// Every code ZooKeeper defines, in `KeeperException.Code` order.
    package static let allKnown: [ZooKeeperErrorCode] = table.keys.sorted(by: >).map(ZooKeeperErrorCode.init(rawValue:))

    /// The `KeeperException.Code` name (`NONODE`), or `UNKNOWN` for a code ZooKeeper does not define.
    package var name: String { Self.table[self.rawValue]?.name ?? "UNKNOWN" }

    /// What the code means, in a few words.
    package var meaning: String { Self.table[self.rawValue]?.meaning ?? "unknown ZooKeeper error" }

    package var description: String { "\(self.name) (\(self.rawValue)): \(self.meaning)" }
}
