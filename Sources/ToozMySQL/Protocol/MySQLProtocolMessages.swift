import NIOCore

// The server's packets after the handshake, parsed from a payload. Each parser reads a copy of
// the payload, so a failed parse leaves nothing half-consumed.

/// An OK packet (`0x00`, or `0xFE` where it ends a result set under `CLIENT_DEPRECATE_EOF`).
package struct MySQLOK: Sendable, Hashable {
    package var affectedRows: UInt64
    package var lastInsertID: UInt64
    package var statusFlags: UInt16
    package var warnings: UInt16

    package init(affectedRows: UInt64 = 0, lastInsertID: UInt64 = 0, statusFlags: UInt16 = 0, warnings: UInt16 = 0) {
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
        self.statusFlags = statusFlags
        self.warnings = warnings
    }

    /// Parses an OK payload (its header byte included). The human-readable info and session
    /// state changes after the warnings are skipped.
    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        let header: UInt8 = try buffer.mysqlReadInteger("the OK header")
        guard header == MySQLProtocol.okHeader || header == MySQLProtocol.eofHeader else {
            throw MySQLDecodingError(.malformed, "an OK packet starts with 0x\(String(header, radix: 16))")
        }
        self.affectedRows = try buffer.mysqlReadLengthEncodedInteger("the affected rows")
        self.lastInsertID = try buffer.mysqlReadLengthEncodedInteger("the last insert id")
        self.statusFlags = try buffer.mysqlReadInteger("the status flags")
        self.warnings = try buffer.mysqlReadInteger("the warning count")
    }

    /// Whether another result of the same command follows.
    package var moreResultsExist: Bool { self.statusFlags & MySQLStatusFlags.moreResultsExist != 0 }
}

/// The classic EOF packet (`0xFE`, fewer than 9 bytes) that ends column definitions and rows
/// without `CLIENT_DEPRECATE_EOF`.
package struct MySQLEOF: Sendable, Hashable {
    package var warnings: UInt16
    package var statusFlags: UInt16

    package init(warnings: UInt16 = 0, statusFlags: UInt16 = 0) {
        self.warnings = warnings
        self.statusFlags = statusFlags
    }

    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        let header: UInt8 = try buffer.mysqlReadInteger("the EOF header")
        guard header == MySQLProtocol.eofHeader, payload.readableBytes < 9 else {
            throw MySQLDecodingError(.malformed, "an EOF packet must start with 0xFE and be shorter than 9 bytes")
        }
        self.warnings = try buffer.mysqlReadInteger("the warning count")
        self.statusFlags = try buffer.mysqlReadInteger("the status flags")
    }

    /// Whether another result of the same command follows.
    package var moreResultsExist: Bool { self.statusFlags & MySQLStatusFlags.moreResultsExist != 0 }
}

extension MySQLServerError {
    /// Parses an ERR payload (`0xFF`, code, `#` and SQLSTATE, message). The SQLSTATE marker is
    /// optional: a server that refuses a connection before the handshake sends none.
    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        let header: UInt8 = try buffer.mysqlReadInteger("the ERR header")
        guard header == MySQLProtocol.errHeader else {
            throw MySQLDecodingError(.malformed, "an ERR packet starts with 0x\(String(header, radix: 16))")
        }
        self.code = try buffer.mysqlReadInteger("the error code")
        if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "#") {
            buffer.moveReaderIndex(forwardBy: 1)
            self.sqlState = String(decoding: try buffer.mysqlReadBytes(length: 5, "the SQLSTATE"), as: UTF8.self)
        } else {
            self.sqlState = "HY000"
        }
        self.message = String(decoding: buffer.readableBytesView, as: UTF8.self)
    }
}

/// AuthSwitchRequest (`0xFE`): the server wants another authentication plugin.
package struct MySQLAuthSwitchRequest: Sendable, Hashable {
    package var pluginName: String
    /// The plugin's nonce, without the trailing NUL.
    package var pluginData: [UInt8]

    package init(pluginName: String, pluginData: [UInt8]) {
        self.pluginName = pluginName
        self.pluginData = pluginData
    }

    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        let header: UInt8 = try buffer.mysqlReadInteger("the AuthSwitchRequest header")
        guard header == MySQLProtocol.eofHeader else {
            throw MySQLDecodingError(.malformed, "an AuthSwitchRequest starts with 0x\(String(header, radix: 16))")
        }
        guard buffer.readableBytes > 0 else {
            // The pre-4.1 "old password" switch: a lone 0xFE.
            throw MySQLDecodingError(.unexpectedPacket, "the server asks for the pre-4.1 password hash (mysql_old_password), which is not supported")
        }
        self.pluginName = try buffer.mysqlReadNullTerminatedString("the auth plugin name")
        var data = Array(buffer.readableBytesView)
        if data.last == 0 { data.removeLast() }
        self.pluginData = data
    }
}

/// A column definition (ColumnDefinition41). Only what callers need is kept.
package struct MySQLColumn: Sendable, Hashable {
    /// The column's name (or alias) in the result.
    package var name: String
    /// The type code (`0x03` LONG, `0x08` LONGLONG, `0xFD` VAR_STRING, ...).
    package var type: UInt8
    /// The column flags (`NOT_NULL` 1, `UNSIGNED` 32, `BINARY` 128, ...).
    package var flags: UInt16
    /// The collation id of the column's text (`63` for binary).
    package var characterSet: UInt16

    package init(name: String, type: UInt8, flags: UInt16 = 0, characterSet: UInt16 = UInt16(MySQLProtocol.utf8mb4GeneralCI)) {
        self.name = name
        self.type = type
        self.flags = flags
        self.characterSet = characterSet
    }

    package init(parsing payload: ByteBuffer) throws(MySQLDecodingError) {
        var buffer = payload
        _ = try buffer.mysqlReadLengthEncodedBytes("the column's catalog")
        _ = try buffer.mysqlReadLengthEncodedBytes("the column's schema")
        _ = try buffer.mysqlReadLengthEncodedBytes("the column's table")
        _ = try buffer.mysqlReadLengthEncodedBytes("the column's original table")
        self.name = try buffer.mysqlReadLengthEncodedString("the column's name")
        _ = try buffer.mysqlReadLengthEncodedBytes("the column's original name")
        let fixedLength = try buffer.mysqlReadLengthEncodedInteger("the length of the column's fixed fields")
        guard fixedLength >= 10, fixedLength <= UInt64(buffer.readableBytes) else {
            throw MySQLDecodingError(.truncated, "a column definition's fixed fields are \(fixedLength) bytes, \(buffer.readableBytes) left")
        }
        self.characterSet = try buffer.mysqlReadInteger("the column's character set")
        _ = try buffer.mysqlReadInteger(as: UInt32.self, "the column's length")
        self.type = try buffer.mysqlReadInteger("the column's type")
        self.flags = try buffer.mysqlReadInteger("the column's flags")
    }
}

/// One row of a text result set: each value as the server's text, or `nil` for NULL.
package struct MySQLRow: Sendable, Hashable {
    package var values: [[UInt8]?]

    package init(values: [[UInt8]?]) {
        self.values = values
    }

    /// Parses a text-protocol row of `columnCount` values; extra bytes are malformed.
    package init(parsing payload: ByteBuffer, columnCount: Int) throws(MySQLDecodingError) {
        var buffer = payload
        var values: [[UInt8]?] = []
        values.reserveCapacity(columnCount)
        for index in 0..<columnCount {
            values.append(try buffer.mysqlReadLengthEncodedBytesOrNull("value \(index + 1) of a row"))
        }
        guard buffer.readableBytes == 0 else {
            throw MySQLDecodingError(.malformed, "a row of \(columnCount) values is followed by \(buffer.readableBytes) more bytes")
        }
        self.values = values
    }
}

/// A result set: the columns and every row.
package struct MySQLResultSet: Sendable, Hashable {
    package var columns: [MySQLColumn]
    package var rows: [MySQLRow]

    package init(columns: [MySQLColumn], rows: [MySQLRow]) {
        self.columns = columns
        self.rows = rows
    }
}

/// One result of a command: a statement's OK, or its result set.
package enum MySQLResult: Sendable, Hashable {
    case ok(MySQLOK)
    case rows(MySQLResultSet)

    /// The result set, if this is one.
    package var resultSet: MySQLResultSet? {
        if case .rows(let set) = self { return set }
        return nil
    }

    /// The OK, if this is one.
    package var ok: MySQLOK? {
        if case .ok(let ok) = self { return ok }
        return nil
    }
}

extension Array where Element == MySQLResult {
    /// The last result set of a command's results, if any (`SET ...; SELECT ...` answers one OK, then rows).
    package var lastRows: MySQLResultSet? {
        self.last { $0.resultSet != nil }?.resultSet
    }

    /// The rows of the last result set; empty if there is none.
    package var rows: [MySQLRow] { self.lastRows?.rows ?? [] }
}
