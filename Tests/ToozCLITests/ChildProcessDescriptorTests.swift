import Foundation
import Testing

@testable import ToozCLI

/// Children of `tooz torture` (workers, the server) must not inherit our sockets: a server
/// that held a dup of a proxy's connection kept it open after the proxy closed it.
@Suite struct ChildProcessDescriptorTests {
    @Test func aChildStartedWithoutOurDescriptorsHasOnlyItsStandardOnes() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // A descriptor without close-on-exec, as SwiftNIO's sockets are.
        let leaked = open("/dev/null", O_RDONLY)
        try #require(leaked > 2)
        defer { close(leaked) }
        let output = scratch.path + "/fds"
        func descriptors(closing: Bool) async throws -> Set<String> {
            let child = try ChildProcess.spawn(
                ["/bin/sh", "-c", "ls /proc/$$/fd"], stdin: .null, stdout: .file(output), stderr: .null,
                closeOtherDescriptors: closing
            )
            #expect(try await child.wait() == .exited(0))
            defer { Platform.removeTree(output) }
            return Set((Platform.readFile(output) ?? "").split(separator: "\n").map(String.init))
        }
        #expect(try await descriptors(closing: false).contains(String(leaked)))
        let closed = try await descriptors(closing: true)
        #expect(!closed.contains(String(leaked)))
        #expect(closed.isSuperset(of: ["0", "1", "2"]))
    }
}
