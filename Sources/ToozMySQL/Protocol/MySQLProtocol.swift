/// The capability flags of the client/server protocol: what each side supports, agreed in the
/// handshake.
package struct MySQLCapabilities: OptionSet, Sendable, Hashable {
    package var rawValue: UInt32

    package init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// `CLIENT_LONG_PASSWORD` (MariaDB reads bit 0 as `CLIENT_MYSQL`).
    package static let longPassword = MySQLCapabilities(rawValue: 1 << 0)
    package static let foundRows = MySQLCapabilities(rawValue: 1 << 1)
    package static let longFlag = MySQLCapabilities(rawValue: 1 << 2)
    package static let connectWithDB = MySQLCapabilities(rawValue: 1 << 3)
    package static let compress = MySQLCapabilities(rawValue: 1 << 5)
    package static let localFiles = MySQLCapabilities(rawValue: 1 << 7)
    package static let protocol41 = MySQLCapabilities(rawValue: 1 << 9)
    package static let ssl = MySQLCapabilities(rawValue: 1 << 11)
    package static let transactions = MySQLCapabilities(rawValue: 1 << 13)
    package static let secureConnection = MySQLCapabilities(rawValue: 1 << 15)
    package static let multiStatements = MySQLCapabilities(rawValue: 1 << 16)
    package static let multiResults = MySQLCapabilities(rawValue: 1 << 17)
    package static let psMultiResults = MySQLCapabilities(rawValue: 1 << 18)
    package static let pluginAuth = MySQLCapabilities(rawValue: 1 << 19)
    package static let connectAttributes = MySQLCapabilities(rawValue: 1 << 20)
    package static let pluginAuthLengthEncodedClientData = MySQLCapabilities(rawValue: 1 << 21)
    package static let sessionTrack = MySQLCapabilities(rawValue: 1 << 23)
    package static let deprecateEOF = MySQLCapabilities(rawValue: 1 << 24)
}

/// The server status flags of OK and EOF packets.
package enum MySQLStatusFlags {
    /// `SERVER_STATUS_IN_TRANS`: a transaction is open.
    package static let inTransaction: UInt16 = 0x0001
    /// `SERVER_STATUS_AUTOCOMMIT`.
    package static let autocommit: UInt16 = 0x0002
    /// `SERVER_MORE_RESULTS_EXISTS`: another result of the same command follows.
    package static let moreResultsExist: UInt16 = 0x0008
}

/// Protocol constants.
package enum MySQLProtocol {
    /// The largest payload of one physical packet; a longer payload is split, and a payload of
    /// exactly a multiple of it is followed by an empty packet.
    package static let maximumPacketPayload = 0xFF_FFFF
    /// `utf8mb4_general_ci`, known to every MySQL ≥ 5.5 and MariaDB.
    package static let utf8mb4GeneralCI: UInt8 = 45
    /// The `max_packet_size` the client announces.
    package static let clientMaximumPacketSize: UInt32 = 1 << 24

    /// `COM_QUIT`.
    package static let commandQuit: UInt8 = 0x01
    /// `COM_QUERY`.
    package static let commandQuery: UInt8 = 0x03
    /// `COM_PING`.
    package static let commandPing: UInt8 = 0x0E

    /// The first byte of an OK packet.
    package static let okHeader: UInt8 = 0x00
    /// The first byte of an AuthMoreData packet.
    package static let authMoreDataHeader: UInt8 = 0x01
    /// The first byte of a `LOCAL INFILE` request (never asked for: `CLIENT_LOCAL_FILES` is off).
    package static let localInfileHeader: UInt8 = 0xFB
    /// The first byte of an EOF packet, an AuthSwitchRequest, and (with `CLIENT_DEPRECATE_EOF`)
    /// the OK that ends a result set.
    package static let eofHeader: UInt8 = 0xFE
    /// The first byte of an ERR packet.
    package static let errHeader: UInt8 = 0xFF
}
