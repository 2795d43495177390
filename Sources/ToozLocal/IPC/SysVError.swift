#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns a failed System V call into a ``ToozError``.
enum SysVError {
    /// A `backendError` naming the call, what it was for, and `errno`'s text and number.
    static func failure(_ call: String, _ what: String, errno code: Int32) -> ToozError {
        let text = strerror(code).map { String(cString: $0) } ?? "unknown error"
        return ToozError(.backendError, "\(call) for \(what) failed: \(text) (errno \(code))")
    }
}
