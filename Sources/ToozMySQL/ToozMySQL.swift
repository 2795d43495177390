// The mysql:// backend: MySQL's client/server protocol written over SwiftNIO (there is no
// MySQL client package to build on), and a CoordinationBackend on top of it.
//
// - Protocol/: pure packet framing, codecs and authentication scrambles.
// - Connection/: the connection state machine, its channel handler and `MySQLConnection`.
// - Configuration/: `MySQLConfiguration`, parsed from tooz's URL.
// - Backend/: `MySQLBackend` and the SQL it sends.
