import Foundation
import Testing

@testable import ToozCLI

/// The demo's checker must catch what it claims to check: a demo that cannot fail proves nothing.
@Suite struct DemoAuditTests {
    private func holds(_ spans: [(token: UInt64, start: UInt64, end: UInt64)]) -> [DemoEntry] {
        spans.enumerated().map { index, span in
            .lock(member: "w\(index % 2)", token: span.token, start: span.start, end: span.end, read: index)
        }
    }

    @Test func aCleanRunPasses() {
        let audit = DemoAudit(entries: holds([(1, 0, 10), (2, 10, 20), (3, 25, 30)]), killed: [:])
        #expect(audit.lockChecks(counter: 3, workers: 1, increments: 3).allSatisfy { $0.passed })
    }

    @Test func overlapsBackwardTokensAndLostUpdatesFail() {
        let overlapping = DemoAudit(entries: holds([(1, 0, 10), (2, 5, 20)]), killed: [:])
        #expect(overlapping.lockChecks(counter: 2, workers: 1, increments: 2).filter { !$0.passed }.count == 1)

        let backwards = DemoAudit(entries: holds([(2, 0, 10), (1, 10, 20)]), killed: [:])
        #expect(backwards.lockChecks(counter: 2, workers: 1, increments: 2).contains { !$0.passed })

        let lost = DemoAudit(entries: holds([(1, 0, 10), (2, 10, 20)]), killed: [:])
        #expect(!lost.lockChecks(counter: 1, workers: 1, increments: 2)[0].passed)
    }

    @Test func leadershipTermsMustNotOverlap() {
        let handedOver = DemoAudit(
            entries: [
                .leadStart(member: "a", token: 1, at: 10), .leadStart(member: "b", token: 2, at: 50),
                .leadEnd(member: "b", token: 2, at: 60), .leadStart(member: "c", token: 3, at: 61),
            ],
            killed: ["a": 40]
        )
        #expect(handedOver.leadershipCheck().passed)

        let twoLeaders = DemoAudit(
            entries: [.leadStart(member: "a", token: 1, at: 10), .leadStart(member: "b", token: 2, at: 20)],
            killed: ["a": 40]
        )
        #expect(!twoLeaders.leadershipCheck().passed)
    }

    @Test func journalLinesRoundTrip() {
        let entries: [DemoEntry] = [
            .joined(member: "worker-1", pid: 42, at: 7), .leadStart(member: "worker-1", token: 3, at: 8),
            .leadEnd(member: "worker-1", token: 3, at: 9), .lock(member: "worker-2", token: 5, start: 10, end: 11, read: 4),
            .done(member: "worker-2", at: 12), .failed(member: "worker-3", message: "it broke badly"),
        ]
        #expect(DemoEntry.parse(entries.map(\.line).joined(separator: "\n") + "\nlock torn") == entries)
    }
}
