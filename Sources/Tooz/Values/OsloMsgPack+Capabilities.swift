extension OsloMsgPack {
    /// A member's stored capabilities: empty bytes are `nil` (a member that joined without
    /// any); anything that is not msgpack is a `serializationFailed` naming the member.
    package static func decodeCapabilities(_ bytes: [UInt8], of member: MemberID, in group: GroupID) throws(ToozError) -> Capabilities {
        if bytes.isEmpty { return .nil }
        do {
            return try decode(bytes)
        } catch {
            throw ToozError(
                .serializationFailed,
                "the capabilities of member \(member.rawValue.debugDescription) in group \(group.rawValue.debugDescription) are not msgpack",
                underlying: error
            )
        }
    }
}
