import Testing
import ToozBackends

/// A coordinator a conformance case runs with, in ``withCoordinator(_:_:needing:timings:caseName:_:)``.
enum Participant: Sendable {
    /// A coordinator with a member id of its own.
    case plain
    /// A coordinator whose backend calls go through a ``FaultyBackend``; its switches and
    /// timeline are ``TestEnvironment/faults(of:)``.
    case faulty
    /// A coordinator with the first participant's member id: a second incarnation of it.
    case twin
}

/// Runs one conformance case on the backend `url`: a fresh store, a coordinator for each
/// participant (with `timings`), all of them running (each connected before the next starts,
/// stopped in reverse order afterwards), and `body` with them.
///
/// When the backend lacks one of `features`, `body` does not run: the case checks that a call
/// needing it throws `notImplemented` naming the backend, is recorded as not implemented there,
/// and returns `nil`. Otherwise it returns what `body` returned, after every coordinator stopped.
@discardableResult
func withCoordinator<Result: Sendable>(
    _ url: String, _ participant: Participant = .plain, needing features: BackendFeatures,
    timings: Timings = .standard, caseName: String = #function,
    _ body: @Sendable (TestEnvironment, Coordinator) async throws -> Result
) async throws -> Result? {
    try await withCoordinators(url, [participant], needing: features, timings: timings, caseName: caseName) {
        env, coordinators in try await body(env, coordinators[0])
    }
}

/// ``withCoordinator(_:_:needing:timings:caseName:_:)`` with two coordinators.
@discardableResult
func withCoordinators<Result: Sendable>(
    _ url: String, _ first: Participant, _ second: Participant, needing features: BackendFeatures,
    timings: Timings = .standard, caseName: String = #function,
    _ body: @Sendable (TestEnvironment, Coordinator, Coordinator) async throws -> Result
) async throws -> Result? {
    try await withCoordinators(url, [first, second], needing: features, timings: timings, caseName: caseName) {
        env, coordinators in try await body(env, coordinators[0], coordinators[1])
    }
}

/// ``withCoordinator(_:_:needing:timings:caseName:_:)`` with three coordinators.
@discardableResult
func withCoordinators<Result: Sendable>(
    _ url: String, _ first: Participant, _ second: Participant, _ third: Participant,
    needing features: BackendFeatures, timings: Timings = .standard, caseName: String = #function,
    _ body: @Sendable (TestEnvironment, Coordinator, Coordinator, Coordinator) async throws -> Result
) async throws -> Result? {
    try await withCoordinators(url, [first, second, third], needing: features, timings: timings, caseName: caseName) {
        env, coordinators in try await body(env, coordinators[0], coordinators[1], coordinators[2])
    }
}

private func withCoordinators<Result: Sendable>(
    _ url: String, _ participants: [Participant], needing features: BackendFeatures,
    timings: Timings, caseName: String,
    _ body: @Sendable (TestEnvironment, [Coordinator]) async throws -> Result
) async throws -> Result? {
    try await withEnvironment(url, caseName: caseName) { env in
        var made: [Coordinator] = []
        for participant in participants {
            switch participant {
            case .plain: made.append(try env.coordinator(timings: timings))
            case .faulty: made.append(try env.faultyCoordinator(timings: timings).0)
            case .twin: made.append(try env.coordinator(made.first?.member, timings: timings))
            }
        }
        let coordinators = made
        return try await running(coordinators) { () async throws -> Result? in
            guard await env.supports(features, on: coordinators[0]) else { return nil }
            return try await body(env, coordinators)
        }
    }
}

extension BackendFeatures {
    /// Every feature on its own, in the order they are checked.
    static let each: [BackendFeatures] = [
        .groups, .membership, .updateCapabilities, .leaderElection, .leaderQuery, .locks, .breakLock,
    ]
}
