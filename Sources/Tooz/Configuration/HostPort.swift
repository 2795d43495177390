/// `HOST[:PORT]` as the multi-host URL forms write it (ZooKeeper's host lists, etcd's
/// endpoints): an IPv6 address in brackets may take a port; a bare one (several colons) takes
/// the default port.
package enum HostPort {
    /// Splits `entry` into a host and a port (1–65535, `defaultPort` when none is written).
    ///
    /// - Throws: `invalidConfiguration` naming the entry: an unclosed bracket, junk after it, no
    ///   host, or a port that is not a number in range.
    package static func parse(_ entry: Substring, defaultPort: Int) throws(ToozError) -> (host: String, port: Int) {
        var host: Substring
        var portText: Substring?
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else {
                throw ToozError(.invalidConfiguration, "host \(String(entry).debugDescription) has an unclosed IPv6 bracket")
            }
            host = entry[entry.index(after: entry.startIndex)..<close]
            let rest = entry[entry.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw ToozError(.invalidConfiguration, "host \(String(entry).debugDescription) has junk after the IPv6 address")
                }
                portText = rest.dropFirst()
            }
        } else if let colon = entry.firstIndex(of: ":"), entry[entry.index(after: colon)...].contains(":") {
            // Several colons without brackets: a bare IPv6 address on the default port.
            host = entry
        } else if let colon = entry.firstIndex(of: ":") {
            host = entry[..<colon]
            portText = entry[entry.index(after: colon)...]
        } else {
            host = entry
        }
        guard !host.isEmpty else {
            throw ToozError(.invalidConfiguration, "host entry \(String(entry).debugDescription) has no host")
        }
        var port = defaultPort
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw ToozError(.invalidConfiguration, "host \(String(entry).debugDescription) has an invalid port")
            }
            port = value
        }
        return (String(host), port)
    }
}
