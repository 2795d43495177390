import Foundation
import NIOPosix
import Testing

@testable import ToozCLI

/// The partition proxy of `tooz torture`, against plain loopback sockets.
@Suite struct TortureProxyTests {
    /// A listening socket on a free loopback port, and blocking helpers that wait up to 60 s (a
    /// loaded CI machine starves the proxy's event loop for many seconds). The test calls them
    /// through ``blocking(_:)``: a blocking read on one of the two cooperative threads of a
    /// 2-core machine would hold back every other test, the proxy's tasks included.
    final class Endpoint: Sendable {
        let fd: Int32

        init(fd: Int32) {
            self.fd = fd
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        static func listen() throws -> (Endpoint, Int) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0 && Glibc.listen(fd, 4) == 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return (Endpoint(fd: fd), Int(UInt16(bigEndian: address.sin_port)))
        }

        static func connect(port: Int) throws -> Endpoint {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
            return Endpoint(fd: fd)
        }

        func accept() -> Endpoint { Endpoint(fd: Glibc.accept(fd, nil, nil)) }

        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

        /// Up to `count` bytes; "" at the end of the stream (a FIN, or a reset: a socket closed
        /// with unread data resets); nil when nothing came in 60 s.
        func receive(_ count: Int) -> String? {
            var buffer = [UInt8](repeating: 0, count: count)
            let got = read(fd, &buffer, count)
            if got < 0 { return errno == ECONNRESET ? "" : nil }
            return String(decoding: buffer[..<got], as: UTF8.self)
        }
    }

    /// Runs blocking socket calls on NIO's thread pool, off the cooperative threads.
    private static func blocking<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    @Test func aPartitionHoldsBackBytesAndClosesUntilItHeals() async throws {
        let (listener, port) = try Endpoint.listen()
        let proxy = try await TortureProxy.start(forwardingTo: "127.0.0.1", port: port, on: MultiThreadedEventLoopGroup.singleton)
        let client = try Endpoint.connect(port: proxy.port)
        let server = try await Self.blocking { listener.accept() }
        client.send("before")
        #expect(try await Self.blocking { server.receive(6) } == "before")

        proxy.partition()
        // The server goes away while the link is dark (killed, restarted). (Nothing is sent the
        // other way: a socket closed with unread bytes resets, and a reset may discard "late".)
        server.send("late")
        _ = shutdown(server.fd, Int32(SHUT_RDWR))
        while proxy.closesHeldBack == 0 { try await Task.sleep(for: .milliseconds(5)) }
        proxy.heal()
        // Found by the harness: the close of a side that closed during a partition was lost
        // on healing, and the worker's connection stayed open and silent for good.
        let (received, ended) = try await Self.blocking { () -> (String, Bool) in
            var received = ""
            while let chunk = client.receive(16) {
                if chunk.isEmpty { return (received, true) }
                received += chunk
            }
            return (received, false)
        }
        #expect(received == "late")
        #expect(ended, "the client's connection should end once the link heals")
        await proxy.close()
    }
}
