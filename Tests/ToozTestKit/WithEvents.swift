import Testing
import Tooz

/// Follows `coordinator.events(in: group)` in a child task while `body` runs; `body` starts
/// once the stream delivered its first snapshot.
package func withEvents<Result: Sendable>(
    of coordinator: Coordinator, in group: GroupID,
    _ body: @Sendable (EventLog<GroupEvent>) async throws -> Result
) async throws -> Result {
    let log = EventLog<GroupEvent>()
    let events = try coordinator.events(in: group)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            do {
                for try await event in events { log.append(event) }
                log.finish(failing: nil)
            } catch {
                log.finish(failing: error)
            }
        }
        defer { tasks.cancelAll() }
        try await log.waitFor("the first snapshot") { !$0.isEmpty }
        return try await body(log)
    }
}
