import Tooz

/// A jute record that can be written: its fields in declaration order.
package protocol JuteEncodable {
    func encode(to writer: inout JuteWriter) throws(ToozError)
}

/// A jute record that can be read back from its fields in declaration order.
package protocol JuteDecodable {
    init(from reader: inout JuteReader) throws(ToozError)
}

/// A record that can be both written and read; every record we use is one, so that each has a
/// byte-exact round trip test.
package typealias JuteRecord = JuteEncodable & JuteDecodable
