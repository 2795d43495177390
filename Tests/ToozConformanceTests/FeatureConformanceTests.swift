import Testing
import Tooz
import ToozTestKit

/// A backend that declares a feature must implement it: every operation of every declared
/// feature is called, and none may answer `notImplemented`.
@Suite struct FeatureConformanceTests {
    @Test(arguments: TestBackends.urls)
    func declaredFeaturesAreImplemented(url: String) async throws {
        try await withEnvironment(url) { env in
            let coordinator = try env.coordinator()
            let group = env.group()
            let lockName = env.lockName()
            let declared = coordinator.info.features
            let exercised = EventLog<BackendFeatures>()
            @Sendable func check(_ feature: BackendFeatures, _ operation: () async throws -> Void) async {
                guard declared.contains(feature) else { return }
                exercised.append(feature)
                do {
                    try await operation()
                } catch let error as ToozError {
                    #expect(error.code != .notImplemented, "\(url) declares \(feature) but answered: \(error)")
                } catch {
                    Issue.record("\(url): \(feature) failed with \(error)")
                }
            }
            try await coordinator.withRunning {
                await check(.groups) {
                    try await coordinator.createGroup(group)
                    #expect(try await coordinator.groups().contains(group))
                }
                await check(.membership) {
                    try await coordinator.join(group, capabilities: ["x": 1])
                    #expect(try await coordinator.members(of: group) == [coordinator.member])
                    #expect(try await coordinator.membersWithCapabilities(of: group) == [coordinator.member: ["x": 1]])
                    #expect(try await coordinator.capabilities(of: coordinator.member, in: group) == ["x": 1])
                }
                await check(.updateCapabilities) {
                    try await coordinator.updateCapabilities(["x": 2], in: group)
                    #expect(try await coordinator.capabilities(of: coordinator.member, in: group) == ["x": 2])
                }
                await check(.leaderElection) {
                    let term = try await coordinator.campaign(for: group, wait: .never)
                    #expect(try await term.release())
                }
                await check(.leaderQuery) { _ = try await coordinator.leader(of: group) }
                await check(.locks) {
                    let lock = try coordinator.lock(named: lockName)
                    _ = try await lock.acquire(wait: .never)
                    #expect(try await lock.release())
                }
                await check(.breakLock) { _ = try await coordinator.lock(named: lockName).breakLock() }
                if declared.contains(.membership) { try await coordinator.leave(group) }
            }
            #expect(BackendFeatures(exercised.events) == declared)
        }
    }
}
