// The memcached:// backend's client layer: memcached's meta protocol (`mg`, `ms`, `md`, `ma`,
// `mn`, memcached 1.6 or later) over SwiftNIO, pipelined on one shared connection, with
// optional TLS.
//
// `Protocol/` encodes requests and decodes replies without I/O, `Connection/` runs one
// channel, and `Client/` keeps one connection alive across drops. The coordination backend
// built on it lives in `Backend/` and `Configuration/`.
