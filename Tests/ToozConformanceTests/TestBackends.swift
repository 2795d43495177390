import ToozTestKit
import Foundation
import Synchronization
import Testing
import ToozBackends
import ToozTestKit

/// The backend URLs every conformance test runs against, and the per-test environment built
/// from one of them.
///
/// `memory://`, `file://` and `ipc://` always run; every space-separated URL in the environment
/// variable `TOOZ_TEST_URLS` is added (tooz's own variable, so `"file:///tmp ipc://"` works too).
/// Each test gets a fresh store: `memory://<uuid>`, a fresh temporary directory for `file://`,
/// and uuid-based names on shared backends (`ipc://`, servers).
enum TestBackends {
    static let urls: [String] = {
        var urls = ["memory://", "file://", "ipc://"]
        let extra = ProcessInfo.processInfo.environment["TOOZ_TEST_URLS"] ?? ""
        for url in extra.split(whereSeparator: \.isWhitespace).map(String.init) where !urls.contains(url) {
            urls.append(url)
        }
        return urls
    }()
}

/// Timings for one test, turned into the URL options each backend understands. `nil` keeps the
/// backend's default (tooz's, usually 30 s), which keeps tests that do not wait for expiry safe
/// from spurious losses on a loaded machine.
struct Timings: Sendable {
    var membershipTTL: Double?
    var lockTTL: Double?
    var leaderTTL: Double?

    init(membershipTTL: Double? = nil, lockTTL: Double? = nil, leaderTTL: Double? = nil) {
        self.membershipTTL = membershipTTL
        self.lockTTL = lockTTL
        self.leaderTTL = leaderTTL
    }

    static let standard = Timings()

    /// For cases that watch a held lease or leadership being lost on purpose (a break, an
    /// injected failure): the loss shows at the next renewal (every third of the TTL), and
    /// the TTL is long enough that a loaded machine cannot stall renewals past it, which
    /// would lose the lease by expiry before the loss under test.
    static let lossObserved = Timings(lockTTL: 15, leaderTTL: 15)

    /// The query options for `scheme`. Polling is always quick so that polled backends report
    /// events promptly; tooz's `timeout` means the membership TTL on the file backend.
    func options(for scheme: String) -> [(String, String)] {
        var options: [(String, String)] = [("poll_interval", "0.1"), ("lock_poll_interval", "0.05")]
        if let membershipTTL {
            options.append((scheme == "file" ? "timeout" : "membership_timeout", Self.format(membershipTTL)))
        }
        if let lockTTL { options.append(("lock_timeout", Self.format(lockTTL))) }
        if let leaderTTL { options.append(("leader_timeout", Self.format(leaderTTL))) }
        return options
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

/// One test's view of one backend: a fresh URL, uuid-based names, coordinators, and clean-up.
final class TestEnvironment: Sendable {
    /// The argument the test was called with (`memory://`, `file://`, an env URL).
    let argument: String
    let scheme: String
    /// The test function, for the not-implemented record.
    let caseName: String
    /// A short random prefix shared by every name this test makes, so that tests never collide
    /// and a test can pick its own groups out of a shared backend's list.
    let prefix: String
    /// The fresh URL without timing options.
    private let baseURL: String
    private let temporaryDirectory: String?
    private struct State {
        var counter = 0
        var groups: [GroupID] = []
        var outcome: String?
        var faults: [ObjectIdentifier: Faults] = [:]
    }
    private let state = Mutex(State())

    init(argument: String, caseName: String) throws {
        self.argument = argument
        self.caseName = caseName
        let parsed = try BackendURL(argument)
        self.scheme = parsed.scheme
        self.prefix = "t" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10))
        switch parsed.scheme {
        case "memory":
            // A fresh named store per test; any path given is ignored on purpose.
            baseURL = "memory://" + UUID().uuidString.lowercased()
            temporaryDirectory = nil
        case "file":
            let root = parsed.path.isEmpty || parsed.path == "/" ? NSTemporaryDirectory() : parsed.path
            let directory = (root as NSString).appendingPathComponent("tooz-conformance-" + prefix)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            temporaryDirectory = directory
            baseURL = "file://" + directory
        default:
            // Options of the env URL are kept; ours are appended after them.
            baseURL = argument
            temporaryDirectory = nil
        }
    }

    /// Whether nothing else shares this test's store, so whole-store assertions (every group)
    /// are exact. Shared stores (`ipc://`, servers) are checked through this test's prefix.
    var isIsolated: Bool { scheme == "memory" || scheme == "file" }

    /// The URL for a coordinator of this test with `timings`.
    func url(_ timings: Timings = .standard) -> String {
        var options = timings.options(for: scheme)
        if scheme == "zookeeper" || scheme == "kazoo", (try? BackendURL(baseURL).option("timeout")) == nil {
            // tooz's `timeout` is also how long ZooKeeper may take to grant the session (10 s by
            // default), which a loaded machine can exceed. The session is set by the TTL options
            // (every lease is the session); without them it lasts 30 s, the other backends' TTL.
            options.append(("timeout", "60"))
            if timings.membershipTTL == nil && timings.lockTTL == nil && timings.leaderTTL == nil {
                options.append(("membership_timeout", "30"))
            }
        }
        let query = options.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return baseURL + (baseURL.contains("?") ? "&" : "?") + query
    }

    // MARK: Names

    private func nextNumber() -> Int {
        state.withLock { state in
            state.counter += 1
            return state.counter
        }
    }

    /// A fresh group id; groups made here are deleted at the end on shared backends.
    func group() -> GroupID {
        let group = GroupID("\(prefix)-g\(nextNumber())")
        state.withLock { $0.groups.append(group) }
        return group
    }

    func member() -> MemberID { MemberID("\(prefix)-m\(nextNumber())") }
    func lockName() -> LockName { LockName("\(prefix)-l\(nextNumber())") }

    // MARK: Coordinators

    /// A coordinator of this test; it waits up to ``Swift/Duration/testPatience`` for `run()` to
    /// connect (see `CoordinatorConfiguration.patient`).
    func coordinator(_ member: MemberID? = nil, timings: Timings = .standard) throws -> Coordinator {
        let (backend, configuration) = try BackendFactory.makeBackend(url: url(timings))
        return try Coordinator(backend: backend, member: member ?? self.member(), configuration: configuration.patient)
    }

    /// A coordinator whose backend calls go through a ``FaultyBackend``, to inject refresh and
    /// heartbeat failures and to log the order of backend calls.
    func faultyCoordinator(_ member: MemberID? = nil, timings: Timings = .standard) throws -> (Coordinator, Faults) {
        let (backend, configuration) = try BackendFactory.makeBackend(url: url(timings))
        let faults = Faults()
        let coordinator = try Coordinator(
            backend: FaultyBackend(base: backend, faults: faults), member: member ?? self.member(),
            configuration: configuration.patient
        )
        state.withLock { $0.faults[ObjectIdentifier(coordinator)] = faults }
        return (coordinator, faults)
    }

    /// The switches and timeline of a coordinator made by ``faultyCoordinator(_:timings:)``.
    func faults(of coordinator: Coordinator) -> Faults {
        guard let faults = state.withLock({ $0.faults[ObjectIdentifier(coordinator)] }) else {
            preconditionFailure("\(coordinator.member) is not a faulty coordinator of this test")
        }
        return faults
    }

    /// A bare backend for this test's store, driven without a coordinator (no heartbeat, no
    /// renewal): the way to simulate a member that crashed.
    func rawBackend(timings: Timings = .standard) throws -> any CoordinationBackend {
        try BackendFactory.makeBackend(url: url(timings)).0
    }

    // MARK: Feature handling

    /// Returns `true` when `coordinator`'s backend has every feature in `features`. Otherwise
    /// checks that a call needing the first missing feature throws `notImplemented` naming the
    /// backend, records this case as not implemented on this backend, and returns `false`.
    func supports(
        _ features: BackendFeatures, on coordinator: Coordinator, sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Bool {
        let missing = BackendFeatures.each.filter { features.contains($0) && !coordinator.info.features.contains($0) }
        guard let feature = missing.first else { return true }
        await expectNotImplemented(on: coordinator, sourceLocation: sourceLocation) {
            try await call(needing: feature, on: coordinator)
        }
        recordNotImplemented(feature)
        return false
    }

    /// One call that needs `feature`, on a name of this test. Every call of every feature is
    /// checked by `RegressionConformanceTests.everyCallOfAMissingFeatureThrowsNotImplemented`.
    private func call(needing feature: BackendFeatures, on coordinator: Coordinator) async throws {
        switch feature {
        case .groups: _ = try await coordinator.groups()
        case .membership: try await coordinator.join(group())
        case .updateCapabilities: try await coordinator.updateCapabilities(["v": 1], in: group())
        case .leaderElection: try await coordinator.campaign(for: group(), wait: .never)
        case .leaderQuery: _ = try await coordinator.leader(of: group())
        case .locks: _ = try coordinator.lock(named: lockName())
        case .breakLock: _ = try await coordinator.lock(named: lockName()).breakLock()
        default: Issue.record("no call needing \(feature)")
        }
    }

    /// Checks that `call` throws `notImplemented` with a message naming the backend.
    func expectNotImplemented(
        on coordinator: Coordinator, sourceLocation: SourceLocation = #_sourceLocation,
        _ call: () async throws -> Void
    ) async {
        let error = await expectToozError(.notImplemented, sourceLocation: sourceLocation, call)
        if let error {
            #expect(
                error.message.contains(coordinator.info.name),
                "a notImplemented message must name the backend: \(error.message)", sourceLocation: sourceLocation
            )
        }
    }

    func recordNotImplemented(_ feature: BackendFeatures) {
        state.withLock { $0.outcome = "notImplemented (\(feature))" }
    }

    /// Writes this case's outcome for the per-backend report: to stdout when it is "not
    /// implemented", and to the file named by `TOOZ_CONFORMANCE_REPORT` when set.
    fileprivate func report(failed: Bool) {
        let outcome = failed ? "threw" : state.withLock { $0.outcome } ?? "ran"
        let line = "\(scheme)\t\(caseName)\t\(outcome)\n"
        if outcome.hasPrefix("notImplemented") {
            print("tooz-conformance: \(argument) \(caseName): \(outcome)")
        }
        guard let path = ProcessInfo.processInfo.environment["TOOZ_CONFORMANCE_REPORT"] else { return }
        Self.reportLock.withLock { _ in
            if let handle = FileHandle(forWritingAtPath: path) {
                handle.seekToEndOfFile()
                handle.write(Data(line.utf8))
                handle.closeFile()
            } else {
                _ = FileManager.default.createFile(atPath: path, contents: Data(line.utf8))
            }
        }
    }

    private static let reportLock = Mutex(())

    // MARK: Clean-up

    /// Removes the temporary directory and, on shared backends, the groups this test made.
    fileprivate func cleanUp() async {
        if let temporaryDirectory {
            try? FileManager.default.removeItem(atPath: temporaryDirectory)
        }
        let groups = state.withLock { $0.groups }
        guard !isIsolated, !groups.isEmpty, let sweeper = try? coordinator() else { return }
        guard sweeper.info.features.contains(.groups) else { return }
        _ = try? await sweeper.withRunning {
            for group in groups { try? await sweeper.deleteGroup(group) }
        }
    }
}

/// Runs `body` with a fresh environment for the backend `argument`, then cleans up, whether
/// `body` succeeded or not.
func withEnvironment<Result>(
    _ argument: String, caseName: String = #function,
    _ body: (TestEnvironment) async throws -> Result
) async throws -> Result {
    let environment = try TestEnvironment(argument: argument, caseName: caseName)
    let result: Result
    do {
        result = try await body(environment)
    } catch {
        environment.report(failed: true)
        await environment.cleanUp()
        throw error
    }
    environment.report(failed: false)
    await environment.cleanUp()
    return result
}

// MARK: Running coordinators

/// Runs every coordinator in `coordinators` (nested `withRunning`, each connected before the
/// next starts) and `body` while all of them run; they stop in reverse order afterwards.
func running<Result: Sendable>(
    _ coordinators: [Coordinator], _ body: @Sendable () async throws -> Result
) async throws -> Result {
    guard let first = coordinators.first else { return try await body() }
    let rest = Array(coordinators.dropFirst())
    return try await first.withRunning { try await running(rest, body) }
}

// MARK: Assertions

/// Checks that `body` throws a ``ToozError`` whose code is one of `codes`; returns it.
@discardableResult
func expectToozError(
    _ codes: ToozError.Code..., sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> ToozError? {
    do {
        try await body()
        Issue.record("expected ToozError \(codes) but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as ToozError {
        #expect(codes.contains(error.code), "expected \(codes), got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ToozError \(codes), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: Signals and logs

/// A one-shot flag tasks can wait for (with a bound).
final class TestSignal: Sendable {
    private let broadcast = ChangeBroadcast()

    func fire() { broadcast.notifyAll() }
    var hasFired: Bool { broadcast.generation != 0 }

    func wait(_ what: String, within limit: Duration = .testPatience) async throws {
        guard try await broadcast.wait(since: 0, timeout: limit, clock: .continuous) else {
            throw WaitTimedOut(what: what, limit: limit)
        }
    }
}

/// A value handed out of a `@Sendable` closure.
final class Box<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// An ordered record of what happened, for ordering assertions.
final class Timeline: Sendable {
    private let entries = Mutex<[String]>([])

    func mark(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
    func index(of entry: String) -> Int? { all.firstIndex(of: entry) }
    func contains(_ entry: String) -> Bool { all.contains(entry) }
    func count(of entry: String) -> Int { all.filter { $0 == entry }.count }

    /// Whether every entry happened, first occurrences in this order.
    func happened(inOrder entries: [String]) -> Bool {
        let indices = entries.map { index(of: $0) }
        guard indices.allSatisfy({ $0 != nil }) else { return false }
        let found = indices.compactMap { $0 }
        return found == found.sorted() && Set(found).count == found.count
    }
}

// MARK: Fault injection

/// What ``FaultyBackend`` does to lease refreshes.
enum RefreshFault: Sendable {
    /// Forwards to the real backend.
    case none
    /// Throws, as a broken connection would: the lease turns uncertain, then lost on TTL backends.
    case fail
    /// Answers that the lock is not ours any more: the lease is lost (revoked) at once.
    case reportLost
}

/// The switches of a ``FaultyBackend`` and the timeline of its calls.
final class Faults: Sendable {
    private let refreshFault = Mutex(RefreshFault.none)
    private let releaseFault = Mutex(false)
    let timeline = Timeline()

    var refresh: RefreshFault {
        get { refreshFault.withLock { $0 } }
        set { refreshFault.withLock { $0 = newValue } }
    }

    /// When `true`, releases throw as a broken connection would.
    var failReleases: Bool {
        get { releaseFault.withLock { $0 } }
        set { releaseFault.withLock { $0 = newValue } }
    }
}

/// Forwards everything to a real backend, injecting refresh faults and logging lock calls.
/// Generic over backends, so the core's lease behaviour is checked on every backend.
struct FaultyBackend: ForwardingBackend {
    let base: any CoordinationBackend
    let faults: Faults

    /// The try/wait loop over this wrapper's ``tryAcquire(_:owner:ttl:)``, so every attempt is logged.
    func acquire(_ request: AcquireRequest) async throws -> LockGrant? { try await pollingAcquire(request) }

    func tryAcquire(_ key: LockKey, owner: LockOwner, ttl: Duration) async throws -> LockGrant? {
        let grant = try await base.tryAcquire(key, owner: owner, ttl: ttl)
        faults.timeline.mark(grant == nil ? "backend-tryAcquire-busy" : "backend-tryAcquire-granted")
        return grant
    }
    func refresh(_ key: LockKey, grant: LockGrant, ttl: Duration) async throws -> Bool {
        switch faults.refresh {
        case .none:
            return try await base.refresh(key, grant: grant, ttl: ttl)
        case .fail:
            faults.timeline.mark("backend-refresh-failed")
            throw ToozError(.connectionFailed, "injected refresh failure")
        case .reportLost:
            faults.timeline.mark("backend-refresh-lost")
            return false
        }
    }
    func release(_ key: LockKey, grant: LockGrant) async throws -> Bool {
        faults.timeline.mark("backend-release")
        if faults.failReleases { throw ToozError(.connectionFailed, "injected release failure") }
        return try await base.release(key, grant: grant)
    }
}
