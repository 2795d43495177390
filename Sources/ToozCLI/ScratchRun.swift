/// How `tooz demo` and `tooz bench` run: in a fresh scratch directory, with the child processes
/// they spawn registered, until done or SIGINT/SIGTERM. Afterwards every registered child is
/// killed and reaped and the directory removed, whatever happened.
enum ScratchRun {
    /// Runs `body`; throws only when the scratch directory cannot be made.
    static func run<Value: Sendable>(
        prefix: String,
        _ body: @escaping @Sendable (_ directory: String, _ registry: ChildRegistry) async throws -> Value
    ) async throws -> (directory: String, outcome: Result<Value, any Error>) {
        let watcher = SignalWatcher()
        let registry = ChildRegistry()
        let directory: String
        do {
            directory = try Platform.makeTemporaryDirectory(prefix: prefix)
        } catch {
            watcher.stop()
            throw error
        }
        let outcome: Result<Value, any Error>
        do {
            outcome = .success(try await watcher.runUntilSignalled { try await body(directory, registry) })
        } catch {
            outcome = .failure(error)
        }
        watcher.stop()
        await registry.killAll()
        Platform.removeTree(directory)
        return (directory, outcome)
    }
}
