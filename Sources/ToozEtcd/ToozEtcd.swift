// The etcd3+http:// backend: etcd v3's gRPC API, spoken by a client of our own on
// swift-nio-http2 with swift-protobuf messages generated from etcd's .proto files.
//
// `Generated/` holds the messages (scripts/generate-etcd-protos writes them; CI never runs
// protoc), `GRPC/` frames gRPC calls and streams on one HTTP/2 connection, `Client/` is the etcd
// client (KV, leases, watches, auth) and `Backend/` the coordination backend in tooz's layout.
@_exported import Tooz
