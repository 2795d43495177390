import Tooz

/// An authentication identity (`org.apache.zookeeper.data.Id`): `world:anyone`,
/// `digest:user:base64(sha1)`, …
package struct ZooKeeperID: JuteRecord, Hashable, Sendable {
    package var scheme: String
    package var id: String

    package init(scheme: String, id: String) {
        self.scheme = scheme
        self.id = id
    }

    /// Anyone at all (`world:anyone`).
    package static let anyone = ZooKeeperID(scheme: "world", id: "anyone")

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.scheme = try reader.readNonNullString()
        self.id = try reader.readNonNullString()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        try writer.writeString(self.scheme)
        try writer.writeString(self.id)
    }
}

/// One access control entry (`org.apache.zookeeper.data.ACL`): permissions for an identity.
package struct ZooKeeperACL: JuteRecord, Hashable, Sendable {
    /// `ZooDefs.Perms` bits.
    package struct Permissions: OptionSet, Hashable, Sendable {
        package var rawValue: Int32
        package init(rawValue: Int32) { self.rawValue = rawValue }

        package static let read = Permissions(rawValue: 1 << 0)
        package static let write = Permissions(rawValue: 1 << 1)
        package static let create = Permissions(rawValue: 1 << 2)
        package static let delete = Permissions(rawValue: 1 << 3)
        package static let admin = Permissions(rawValue: 1 << 4)
        package static let all: Permissions = [.read, .write, .create, .delete, .admin]
    }

    package var permissions: Permissions
    package var id: ZooKeeperID

    /// The smallest encoding: the permissions and two empty strings.
    package static let minimumEncodedSize = 12

    package init(permissions: Permissions, id: ZooKeeperID) {
        self.permissions = permissions
        self.id = id
    }

    /// Everything for everyone (`ZooDefs.Ids.OPEN_ACL_UNSAFE`), what kazoo uses without credentials.
    package static let openUnsafe: [ZooKeeperACL] = [ZooKeeperACL(permissions: .all, id: .anyone)]

    package init(from reader: inout JuteReader) throws(ToozError) {
        self.permissions = Permissions(rawValue: try reader.readInt())
        self.id = try reader.readRecord()
    }

    package func encode(to writer: inout JuteWriter) throws(ToozError) {
        writer.writeInt(self.permissions.rawValue)
        try writer.writeRecord(self.id)
    }
}

extension JuteWriter {
    /// A `vector<ACL>`.
    package mutating func writeACLs(_ acls: [ZooKeeperACL]?) throws(ToozError) {
        try self.writeVector(acls) { (writer, acl) throws(ToozError) in try writer.writeRecord(acl) }
    }
}

extension JuteReader {
    /// A `vector<ACL>`.
    package mutating func readACLs() throws(ToozError) -> [ZooKeeperACL]? {
        try self.readVector(minimumElementSize: ZooKeeperACL.minimumEncodedSize) { (reader) throws(ToozError) in
            try reader.readRecord()
        }
    }
}
