import Foundation
import Testing
import ToozServerTestSupport

@testable import ToozCLI

/// `.` and `..` are not ZooKeeper node names: as lock, group or member ids the CLI refuses them
/// in validation (exit 65, "reserved") instead of sending them to the server (BADARGUMENTS,
/// exit 70) or refusing them for another reason.
@Suite(
    "tooz refuses . and .. on ZooKeeper",
    .serialized,
    .enabled(if: ZooKeeperTestServer.testsEnabled, "java or Debian's zookeeper jars are missing (apt-get install zookeeper)")
)
struct ZooKeeperReservedNameTests {
    static func expectReserved(_ output: ToozProcess.Output, _ what: String) {
        #expect(output.status == 65, "\(what): status \(output.status), stderr: \(output.stderr)")
        #expect(output.stderr.contains("reserved"), "\(what): stderr: \(output.stderr)")
        #expect(!output.stderr.contains("BADARGUMENTS"), "\(what): stderr: \(output.stderr)")
    }

    @Test func dotAndDotDotAreReservedNames() async throws {
        try await ZooKeeperTestServer.withServer { server in
            for name in [".", ".."] {
                Self.expectReserved(
                    try await ToozProcess.run(["lock", "--url", server.url, name, "--", "true"]), "lock \(name)"
                )
                Self.expectReserved(
                    try await ToozProcess.run(["group", "create", "--url", server.url, name]), "group \(name)"
                )
                Self.expectReserved(
                    try await ToozProcess.run(["group", "join", "--url", server.url, "--member", name, "--create", "g"]),
                    "member \(name)"
                )
            }
        }
    }
}
