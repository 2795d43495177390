/// The checks the demo prints at the end, computed from the workers' journal alone, so they
/// hold whatever the backend is.
struct DemoAudit: Sendable {
    struct Check: Sendable, Hashable {
        var passed: Bool
        var text: String
    }

    struct Hold: Sendable, Hashable {
        var member: String
        var token: UInt64
        var start: UInt64
        var end: UInt64
        var read: Int
    }

    struct Term: Sendable, Hashable {
        var member: String
        var token: UInt64
        var start: UInt64
        /// `nil` while it has not ended.
        var end: UInt64?
    }

    var entries: [DemoEntry]
    /// Members killed on purpose, and when the kill was sent: the end of a term they held.
    var killed: [String: UInt64]

    var holds: [Hold] {
        entries.compactMap { entry in
            guard case .lock(let member, let token, let start, let end, let read) = entry else { return nil }
            return Hold(member: member, token: token, start: start, end: end, read: read)
        }
        .sorted { $0.start < $1.start }
    }

    var terms: [Term] {
        var terms: [Term] = []
        for entry in entries {
            switch entry {
            case .leadStart(let member, let token, let at):
                terms.append(Term(member: member, token: token, start: at, end: killed[member]))
            case .leadEnd(let member, let token, let at):
                if let index = terms.lastIndex(where: { $0.member == member && $0.token == token }) {
                    terms[index].end = at
                }
            default: break
            }
        }
        return terms.sorted { $0.start < $1.start }
    }

    /// Checks the lock phase: the final counter, the fencing tokens, and that holds never overlapped.
    func lockChecks(counter: Int?, workers: Int, increments: Int) -> [Check] {
        let expected = workers * increments
        let holds = self.holds
        var checks: [Check] = []

        let readsInOrder = holds.enumerated().allSatisfy { $0.offset == $0.element.read }
        let counterText = counter.map(String.init) ?? "missing"
        checks.append(
            Check(
                passed: counter == expected && holds.count == expected && readsInOrder,
                text: "counter = \(counterText) (expected \(workers) × \(increments) = \(expected))"
                    + (readsInOrder ? ", no lost update" : ", some holder read a stale value")
                    + (holds.count == expected ? "" : "; \(holds.count) holds journaled")
            )
        )

        let tokens = holds.map(\.token)
        let increasing = zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 }
        let range = tokens.isEmpty ? "" : " (\(tokens.first!) → \(tokens.last!))"
        checks.append(
            Check(
                passed: increasing && !tokens.isEmpty,
                text: increasing
                    ? "\(tokens.count) fencing tokens, strictly increasing in acquisition order\(range)"
                    : "fencing tokens went backwards in acquisition order\(range)"
            )
        )

        let overlaps = zip(holds, holds.dropFirst()).filter { $1.start < $0.end }.count
        checks.append(
            Check(
                passed: overlaps == 0,
                text: overlaps == 0
                    ? "no two lock holders overlapped"
                    : "\(overlaps) lock holds began before the previous one ended"
            )
        )
        return checks
    }

    /// Checks leadership: terms never overlapped and their fencing tokens grew.
    func leadershipCheck() -> Check {
        let terms = self.terms
        var overlaps = 0
        for (previous, next) in zip(terms, terms.dropFirst()) {
            if previous.end.map({ next.start < $0 }) ?? true { overlaps += 1 }
        }
        let tokens = terms.map(\.token)
        let increasing = zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 }
        if terms.isEmpty { return Check(passed: false, text: "nobody was ever elected") }
        if overlaps > 0 { return Check(passed: false, text: "two leaders at once, \(overlaps) time(s)") }
        if !increasing { return Check(passed: false, text: "leadership fencing tokens went backwards") }
        return Check(passed: true, text: "exactly one leader at a time (\(terms.count) terms, in fencing-token order)")
    }
}
