@_exported import Tooz

/// Builds the host-local backends (`file://`, `ipc://`) from a parsed URL.
public enum LocalBackends {
    /// Returns `nil` when the scheme is not a local one.
    public static func make(_ url: BackendURL) throws(ToozError) -> (any CoordinationBackend, CoordinatorConfiguration)? {
        switch url.scheme {
        case "file": try FileBackend.make(url)
        case "ipc": try IPCBackend.make(url)
        default: nil
        }
    }
}
