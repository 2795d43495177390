/// One operation of ``ZooKeeperClient/multi(_:)``, with a path relative to the chroot.
package enum ZooKeeperOperation: Hashable, Sendable {
    /// Creates a node; `acl` `nil` means the client's default ACL.
    case create(path: String, data: [UInt8] = [], acl: [ZooKeeperACL]? = nil, mode: ZooKeeperCreateMode = .persistent)
    /// Deletes a node; version -1 whatever its version.
    case delete(path: String, version: Int32 = -1)
    /// Replaces a node's data; version -1 whatever its version.
    case setData(path: String, data: [UInt8], version: Int32 = -1)
    /// Fails the transaction unless the node has `version` (-1: unless it exists).
    case check(path: String, version: Int32)

    package var path: String {
        switch self {
        case .create(let path, _, _, _), .delete(let path, _), .setData(let path, _, _), .check(let path, _): path
        }
    }

    /// The wire form, with server paths.
    func wire(_ configuration: ZooKeeperClientConfiguration) -> ZooKeeperMultiRequest.Operation {
        switch self {
        case .create(let path, let data, let acl, let mode):
            .create(
                ZooKeeperCreateRequest(
                    path: configuration.serverPath(path),
                    data: data,
                    acl: acl ?? configuration.defaultACL,
                    mode: mode
                )
            )
        case .delete(let path, let version):
            .delete(ZooKeeperDeleteRequest(path: configuration.serverPath(path), version: version))
        case .setData(let path, let data, let version):
            .setData(ZooKeeperSetDataRequest(path: configuration.serverPath(path), data: data, version: version))
        case .check(let path, let version):
            .check(ZooKeeperCheckVersionRequest(path: configuration.serverPath(path), version: version))
        }
    }
}

/// The outcome of one operation of a successful ``ZooKeeperClient/multi(_:)``.
package enum ZooKeeperOperationResult: Hashable, Sendable {
    /// The created path (with the sequence suffix for a sequential node), relative to the chroot.
    case created(path: String)
    /// The node was deleted.
    case deleted
    /// The node's stat after the change.
    case dataSet(ZooKeeperStat)
    /// The version check passed.
    case checked
}
