import Foundation
import Synchronization
import Tooz
import ToozTestKit

/// A Python tooz 9.1.0 member in a child process (scripts/interop/tooz_peer.py), driven one
/// JSON request at a time.
///
/// Every request has a deadline: a peer that does not answer in time is killed and the test
/// fails. ``with(_:in:_:)`` always shuts the peer down, and the peer itself exits when its
/// input closes, when this process goes away, or after its own time limit.
final class PythonPeer: Sendable {
    /// What the peer runs, from its first line.
    struct Hello: Sendable {
        var python: String
        var tooz: String
        var sysvIPC: String?
        /// `sysv_ipc.SEMAPHORE_TIMEOUT_SUPPORTED`: whether tooz's ipc:// non-blocking acquire
        /// works on this build (the PyPI wheel of sysv_ipc 1.2.0 says no).
        var semaphoreTimeoutSupported: Bool
    }

    /// The peer answered a request with a Python exception.
    struct RemoteError: Error, CustomStringConvertible {
        var peer: String
        var op: String
        /// The exception class, `NotImplemented` for `tooz.NotImplemented`.
        var type: String
        var message: String
        var description: String { "Python peer \(peer): \(op) raised \(type): \(message)" }
    }

    struct PeerFailure: Error, CustomStringConvertible {
        var description: String
    }

    let name: String
    let hello: Hello
    private let connection: PeerConnection
    private let nextID = Mutex(1)

    private init(name: String, hello: Hello, connection: PeerConnection) {
        self.name = name
        self.hello = hello
        self.connection = connection
    }

    // MARK: Lifecycle

    /// Starts a peer, runs `body`, and shuts the peer down whatever happens.
    static func with<Result: Sendable>(
        _ name: String,
        in directory: TemporaryDirectory,
        _ body: (PythonPeer) async throws -> Result
    ) async throws -> Result {
        let peer = try await launch(name, logDirectory: directory.path)
        do {
            let result = try await body(peer)
            await peer.shutdown()
            return result
        } catch {
            await peer.shutdown()
            throw error
        }
    }

    /// Starts the helper and waits for its hello line.
    static func launch(_ name: String, logDirectory: String) async throws -> PythonPeer {
        let python = try InteropEnvironment.requirePython()
        let connection = try PeerConnection(
            name: name, python: python, script: InteropEnvironment.peerScript,
            logPath: "\(logDirectory)/peer-\(name).log"
        )
        let helloLine: JSONValue
        do {
            helloLine = try await connection.answer(op: "hello", id: 0, timeout: .seconds(60))
        } catch {
            await connection.terminate()
            throw error
        }
        let hello = Hello(
            python: helloLine["python"]?.string ?? "?",
            tooz: helloLine["tooz"]?.string ?? "?",
            sysvIPC: helloLine["sysv_ipc"]?.string,
            semaphoreTimeoutSupported: helloLine["semaphore_timeout_supported"]?.bool ?? false
        )
        guard hello.tooz == "9.1.0" else {
            await connection.terminate()
            throw PeerFailure(description: "TOOZ_PYTHON=\(python) runs tooz \(hello.tooz), not 9.1.0")
        }
        return PythonPeer(name: name, hello: hello, connection: connection)
    }

    /// Asks the peer to release its locks, stop its coordinator and exit; kills it when it does
    /// not. Safe to call more than once.
    func shutdown() async {
        if connection.isRunning {
            _ = try? await call("stop", timeout: .seconds(20))
        }
        await connection.terminate()
    }

    /// Kills the peer with SIGKILL, without `stop()`: its beat key, group memberships and locks
    /// stay on the backend until they expire, as after a crash. ``shutdown()`` afterwards is
    /// harmless.
    func kill() async throws {
        guard await connection.killHard() else {
            throw PeerFailure(description: "Python peer \(name) was still running \(Duration.testPatience) after SIGKILL")
        }
    }

    /// Stops the peer with SIGSTOP: it answers nothing and its heart beats no more, but it
    /// holds on to everything, as a process that stalls. ``resume()`` continues it;
    /// ``shutdown()`` continues it too.
    func suspend() { connection.suspend() }

    /// Continues a peer stopped by ``suspend()``.
    func resume() { connection.resume() }

    /// The last lines the peer logged, for failure messages.
    func logTail(lines: Int = 20) -> String { connection.logTail(lines: lines) }

    // MARK: Requests

    /// Sends `op` with `arguments` and returns the result; throws ``RemoteError`` when Python
    /// raised, and ``PeerFailure`` (after killing the peer) when it did not answer in time.
    @discardableResult
    func call(_ op: String, _ arguments: [String: JSONValue] = [:], timeout: Duration = .seconds(30)) async throws -> JSONValue {
        let id = nextID.withLock { next -> Int in
            defer { next += 1 }
            return next
        }
        var request = arguments
        request["id"] = .number(Double(id))
        request["op"] = .string(op)
        try connection.send(JSONEncoder().encode(JSONValue.object(request)) + Data("\n".utf8), op: op)
        return try await connection.answer(op: op, id: id, timeout: timeout)
    }
}

/// The child process and its pipes: sends request lines, hands out answer lines with a
/// deadline, and ends the process.
final class PeerConnection: Sendable {
    private enum LineResult: Sendable {
        case line(String)
        case endOfInput
        case timedOut
    }

    private struct State: Sendable {
        var buffer: [UInt8] = []
        var lines: [String] = []
        var endOfInput = false
        var waiter: CheckedContinuation<LineResult, Never>?
        var waitTimedOut = false
    }

    let name: String
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private let logPath: String
    private let state = Mutex(State())

    /// A write to a peer that has died must fail with EPIPE, not kill the test process.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    init(name: String, python: String, script: String, logPath: String) throws {
        Self.ignoreBrokenPipes
        self.name = name
        self.logPath = logPath
        guard FileManager.default.createFile(atPath: logPath, contents: nil),
            let log = FileHandle(forWritingAtPath: logPath)
        else { throw PythonPeer.PeerFailure(description: "cannot create \(logPath)") }
        defer { try? log.close() }

        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--max-seconds", "300"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = log
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading

        do {
            try process.run()
        } catch {
            throw PythonPeer.PeerFailure(description: "could not start \(python) \(script): \(error)")
        }
        // A thread of its own reads the peer's output with blocking reads until end of input.
        // Foundation's readabilityHandler (a dispatch source on the pipe) crashed libdispatch's
        // manager thread once on a loaded machine, with the handler torn down as the pipe
        // closed. The thread holds the file handle, so the descriptor stays open until it ends.
        let output = self.output
        let reader = Thread { [weak self] in
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = read(output.fileDescriptor, &chunk, chunk.count)
                if count > 0 {
                    self?.receive(Data(chunk[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    self?.receive(Data())
                    return
                }
            }
        }
        reader.name = "python-peer-\(name)"
        reader.start()
    }

    /// Called on the reader thread with each chunk of the peer's output; empty at end of input.
    private func receive(_ data: Data) {
        let wake = state.withLock { state -> (CheckedContinuation<LineResult, Never>, LineResult)? in
            if data.isEmpty {
                state.endOfInput = true
            } else {
                state.buffer.append(contentsOf: data)
                while let newline = state.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    state.lines.append(String(decoding: state.buffer[..<newline], as: UTF8.self))
                    state.buffer.removeSubrange(...newline)
                }
            }
            guard let waiter = state.waiter else { return nil }
            if !state.lines.isEmpty {
                state.waiter = nil
                return (waiter, .line(state.lines.removeFirst()))
            }
            if state.endOfInput {
                state.waiter = nil
                return (waiter, .endOfInput)
            }
            return nil
        }
        if let (continuation, result) = wake { continuation.resume(returning: result) }
    }

    var isRunning: Bool { process.isRunning && !state.withLock { $0.endOfInput } }

    func send(_ line: Data, op: String) throws {
        do {
            try input.write(contentsOf: line)
        } catch {
            throw PythonPeer.PeerFailure(description: "Python peer \(name): cannot send \(op): \(error)\n\(logTail())")
        }
    }

    /// The next answer, which must carry `id`; its `result` when it is `ok`.
    func answer(op: String, id: Int, timeout: Duration) async throws -> JSONValue {
        let line: String
        switch await nextLine(timeout: timeout) {
        case .line(let text): line = text
        case .endOfInput:
            throw PythonPeer.PeerFailure(description: "Python peer \(name) exited during \(op); its log:\n\(logTail())")
        case .timedOut:
            deliver(SIGKILL)
            throw PythonPeer.PeerFailure(
                description: "Python peer \(name) did not answer \(op) within \(timeout); killed it. Its log:\n\(logTail())"
            )
        }
        let answer: JSONValue
        do {
            answer = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        } catch {
            throw PythonPeer.PeerFailure(description: "Python peer \(name) answered \(op) with a line that is not JSON: \(line)")
        }
        guard answer["id"]?.int == id else {
            throw PythonPeer.PeerFailure(description: "Python peer \(name) answered \(op) out of turn: \(line)")
        }
        guard answer["ok"]?.bool == true else {
            throw PythonPeer.RemoteError(
                peer: name, op: op, type: answer["error"]?.string ?? "?", message: answer["message"]?.string ?? line
            )
        }
        return answer["result"] ?? .null
    }

    private func nextLine(timeout: Duration) async -> LineResult {
        state.withLock { $0.waitTimedOut = false }
        return await withTaskGroup(of: LineResult?.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<LineResult, Never>) in
                    let immediate = self.state.withLock { state -> LineResult? in
                        if !state.lines.isEmpty { return .line(state.lines.removeFirst()) }
                        if state.endOfInput { return .endOfInput }
                        if state.waitTimedOut { return .timedOut }
                        state.waiter = continuation
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            }
            group.addTask {
                // Cancelled either because the line came (then no waiter is left) or because
                // the test was: either way the reader must not be left waiting.
                let slept = (try? await Task.sleep(for: timeout)) != nil
                let waiter = self.state.withLock { state in
                    state.waitTimedOut = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: .timedOut)
                return slept ? .timedOut : nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .timedOut
        }
    }

    /// Closes the peer's input (it exits on end of input), then escalates to SIGTERM and
    /// SIGKILL if it is still there. Safe to call more than once.
    func terminate() async {
        // A suspended peer could not read its end of input.
        resume()
        try? input.close()
        if await waitForExit(within: .seconds(5)) { return finish() }
        deliver(SIGTERM)
        if await waitForExit(within: .seconds(5)) { return finish() }
        deliver(SIGKILL)
        _ = await waitForExit(within: .seconds(10))
        finish()
    }

    /// Ends the peer with SIGKILL, as a crash would: it releases nothing and stops nothing, so
    /// what it held on the backend stays there until it expires. Returns whether it exited
    /// within `limit`.
    func killHard(within limit: Duration = .testPatience) async -> Bool {
        deliver(SIGKILL)
        let exited = await waitForExit(within: limit)
        if exited { finish() }
        return exited
    }

    /// SIGSTOP: the peer stops where it is, holding everything.
    func suspend() { deliver(SIGSTOP) }

    /// SIGCONT: a suspended peer goes on.
    func resume() { deliver(SIGCONT) }

    /// Signals the peer only while it runs: once Foundation has reaped it, its pid may be
    /// someone else's.
    private func deliver(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// The reader thread ends by itself at the end of the peer's output.
    private func finish() {}

    /// Polls rather than blocks, so a peer that will not die cannot hang the test.
    private func waitForExit(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                // A cancelled test still cleans up: wait without the task's sleep.
                usleep(20_000)
            }
        }
        return true
    }

    func logTail(lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

// MARK: - The operations the tests use

extension PythonPeer {
    /// `get_coordinator(url, member)` and, except on ipc://, `start(start_heart=True)`.
    /// Starts the peer's coordinator. The peer retries a failed connection for up to 60 s
    /// (a loaded machine can make one attempt time out), so this call waits longer.
    func start(url: String, member: String) async throws {
        try await call("start", ["url": .string(url), "member": .string(member), "heart": true], timeout: .seconds(120))
    }

    func createGroup(_ group: String) async throws {
        try await call("create_group", ["group": .string(group)])
    }

    /// `join_group(group, literal_eval(capabilities))`.
    func joinGroup(_ group: String, capabilitiesLiteral: String?) async throws {
        try await call("join_group", ["group": .string(group), "capabilities": capabilitiesLiteral.map { .string($0) } ?? .null])
    }

    func leaveGroup(_ group: String) async throws {
        try await call("leave_group", ["group": .string(group)])
    }

    func members(of group: String) async throws -> Set<String> {
        Set(try await call("get_members", ["group": .string(group)]).strings ?? [])
    }

    /// A value as Python sees it: its `repr()`, and its oslo msgpack form decoded here.
    struct PythonValue: Sendable, Equatable {
        var repr: String
        var value: MessagePackValue
    }

    func capabilities(of member: String, in group: String) async throws -> PythonValue {
        try Self.pythonValue(await call("get_member_capabilities", ["group": .string(group), "member": .string(member)]))
    }

    func membersWithCapabilities(of group: String) async throws -> [String: PythonValue] {
        let found = try await call("get_members_with_capabilities", ["group": .string(group)]).object ?? [:]
        return try found.mapValues(Self.pythonValue)
    }

    private static func pythonValue(_ json: JSONValue) throws -> PythonValue {
        guard let repr = json["repr"]?.string, let hex = json["msgpack"]?.string else {
            throw PeerFailure(description: "expected {repr, msgpack}, got \(json)")
        }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { throw PeerFailure(description: "bad hex \(hex)") }
            bytes.append(byte)
            index = next
        }
        return PythonValue(repr: repr, value: try OsloMsgPack.decode(bytes))
    }

    /// `get_lock(name).acquire(blocking=False)`.
    func tryAcquire(_ lock: String) async throws -> Bool {
        let result = try await call("lock_acquire", ["name": .string(lock), "blocking": false])
        guard let acquired = result.bool else { throw PeerFailure(description: "acquire returned \(result)") }
        return acquired
    }

    func release(_ lock: String) async throws -> Bool {
        try await call("lock_release", ["name": .string(lock)]).bool ?? false
    }

    struct BackgroundAcquire: Sendable, Equatable {
        var done: Bool
        var acquired: Bool?
        var error: String?
    }

    /// Starts `acquire(blocking=True)` on a thread of the peer; see ``waitForBackgroundAcquire``.
    func startBlockingAcquire(_ lock: String) async throws -> BackgroundAcquire {
        Self.background(try await call("lock_acquire_background", ["name": .string(lock)]))
    }

    /// Waits up to `seconds` for the background acquire of `lock` to return.
    func waitForBackgroundAcquire(_ lock: String, seconds: Double) async throws -> BackgroundAcquire {
        Self.background(
            try await call(
                "lock_wait", ["name": .string(lock), "timeout": .number(seconds)], timeout: .seconds(Int64(seconds) + 30)
            )
        )
    }

    private static func background(_ json: JSONValue) -> BackgroundAcquire {
        BackgroundAcquire(done: json["done"]?.bool ?? false, acquired: json["acquired"]?.bool, error: json["error"]?.string)
    }

    func joinPartitionedGroup(_ group: String, weight: Int) async throws {
        try await call("join_partitioned_group", ["group": .string(group), "weight": .number(Double(weight))])
    }

    /// The members tooz's `Partitioner.members_for_object` gives `"\(prefix)\(i)"` for each i,
    /// after one `run_watchers()`, and the ring's nodes with their weights.
    func partitionerPlacement(
        _ group: String, prefix: String, count: Int, replicas: Int = 1
    ) async throws -> (nodes: [String: Int], placement: [Set<String>]) {
        let result = try await call(
            "partitioner_placement",
            ["group": .string(group), "prefix": .string(prefix), "count": .number(Double(count)), "replicas": .number(Double(replicas))],
            timeout: .seconds(120)
        )
        let nodes = (result["nodes"]?.object ?? [:]).compactMapValues(\.int)
        let placement = (result["placement"]?.array ?? []).map { Set($0.strings ?? []) }
        return (nodes, placement)
    }

    /// tooz's `HashRing(partitions)` with `nodes` added at their weights, asked for
    /// `"\(prefix)\(i)"` for each i.
    func hashRingPlacement(
        nodes: [String: Int], prefix: String, count: Int, replicas: Int = 1, partitions: Int = 32
    ) async throws -> [Set<String>] {
        let result = try await call(
            "hashring_placement",
            [
                "nodes": .object(nodes.mapValues { .number(Double($0)) }), "prefix": .string(prefix),
                "count": .number(Double(count)), "replicas": .number(Double(replicas)),
                "partitions": .number(Double(partitions)),
            ],
            timeout: .seconds(120)
        )
        return (result.array ?? []).map { Set($0.strings ?? []) }
    }
}

// MARK: - Capabilities, groups, locks and leadership beyond the basics

extension PythonPeer {
    /// `update_capabilities(group, literal_eval(capabilities))`.
    func updateCapabilities(_ group: String, capabilitiesLiteral: String) async throws {
        try await call("update_capabilities", ["group": .string(group), "capabilities": .string(capabilitiesLiteral)])
    }

    /// `get_groups()`.
    func groups() async throws -> Set<String> {
        Set(try await call("get_groups").strings ?? [])
    }

    /// `get_lock(name).break_()`: whether a holder was removed.
    func breakLock(_ lock: String) async throws -> Bool {
        let result = try await call("lock_break", ["name": .string(lock)])
        guard let broken = result.bool else { throw PeerFailure(description: "lock_break returned \(result)") }
        return broken
    }

    /// `is_still_owner()` of the peer's lock object for `lock` (`false` when it has none).
    func isStillOwner(_ lock: String) async throws -> Bool {
        let result = try await call("lock_is_still_owner", ["name": .string(lock)])
        guard let owner = result.bool else { throw PeerFailure(description: "lock_is_still_owner returned \(result)") }
        return owner
    }

    /// `get_lock(name).get_owner()`: the holder as the driver stores it (on memcached, the
    /// holder's member id), or `nil` when the lock is free.
    func lockOwner(_ lock: String) async throws -> String? {
        let result = try await call("lock_get_owner", ["name": .string(lock)])
        if result == .null { return nil }
        guard let owner = result.string else { throw PeerFailure(description: "lock_get_owner returned \(result)") }
        return owner
    }

    /// A `LeaderElected` event the peer's callback saw.
    struct Elected: Sendable, Hashable, CustomStringConvertible {
        var group: String
        var member: String
        var description: String { "\(member) elected in \(group)" }
    }

    /// What one election round gave the peer.
    struct Volunteering: Sendable, Equatable {
        /// Whether the peer leads the group after the round.
        var elected: Bool
        /// The `LeaderElected` events this round fired.
        var events: [Elected]
    }

    /// `watch_elected_as_leader(group, cb)` (once), then one `run_watchers()`.
    func volunteer(_ group: String) async throws -> Volunteering {
        let result = try await call("volunteer", ["group": .string(group)])
        guard let elected = result["elected"]?.bool, let events = result["events"]?.array else {
            throw PeerFailure(description: "volunteer returned \(result)")
        }
        return Volunteering(elected: elected, events: try events.map(Self.elected))
    }

    /// One `run_watchers()`; every `LeaderElected` the peer has seen so far, oldest first.
    func runWatchers() async throws -> [Elected] {
        let result = try await call("run_watchers")
        guard let events = result.array else { throw PeerFailure(description: "run_watchers returned \(result)") }
        return try events.map(Self.elected)
    }

    /// Whether the peer leads `group`: on redis, whether its leader lock still owns
    /// `_tooz_leader_of_<g>_lock` on the server.
    func isLeader(_ group: String) async throws -> Bool {
        let result = try await call("is_leader", ["group": .string(group)])
        guard let leads = result.bool else { throw PeerFailure(description: "is_leader returned \(result)") }
        return leads
    }

    /// What ``standDown(_:)`` did.
    struct StandDown: Sendable, Equatable {
        var unwatched: Bool
        var released: Bool
        /// `leader_lock`, `stand_down_group_leader` or `none`.
        var how: String
    }

    /// Stops running for `group` and gives its leadership up (on redis by releasing the
    /// driver's leader lock, as `stop()` would).
    func standDown(_ group: String) async throws -> StandDown {
        let result = try await call("stand_down", ["group": .string(group)])
        guard let unwatched = result["unwatched"]?.bool, let released = result["released"]?.bool,
            let how = result["how"]?.string
        else { throw PeerFailure(description: "stand_down returned \(result)") }
        return StandDown(unwatched: unwatched, released: released, how: how)
    }

    /// `get_leader(group)`: the leader's member id, or `nil`. On zookeeper it reads the first
    /// contender under `/tooz/<g>/leader`, and creates that node (and the group) when missing.
    func leader(of group: String) async throws -> String? {
        let result = try await call("get_leader", ["group": .string(group)])
        if result == .null { return nil }
        guard let leader = result.string else { throw PeerFailure(description: "get_leader returned \(result)") }
        return leader
    }

    private static func elected(_ json: JSONValue) throws -> Elected {
        guard let group = json["group"]?.string, let member = json["member"]?.string else {
            throw PeerFailure(description: "expected {group, member}, got \(json)")
        }
        return Elected(group: group, member: member)
    }
}

// MARK: - Raw memcached reads (memcached:// peers only)

extension PythonPeer {
    /// An item as pymemcache reads it.
    struct MemcachedItem: Sendable, Equatable {
        var value: [UInt8]
        /// pymemcache's serializer flags: 1 raw bytes, 2 msgpack.
        var flags: Int
        /// The seconds it has left (meta `mg <key> t`), -1 for none, `nil` when unknown.
        var ttl: Int?
        /// The value as the tooz driver's deserializer gives it, in Python's `repr()`.
        var repr: String
    }

    /// The item `key` as read by a plain pymemcache client, or `nil` when it is missing.
    func memcachedItem(_ key: String) async throws -> MemcachedItem? {
        let result = try await call("memcached_item", ["key": .string(key)])
        if result == .null { return nil }
        guard let hex = result["value"]?.string, let flags = result["flags"]?.int, let repr = result["repr"]?.string else {
            throw PeerFailure(description: "memcached_item returned \(result)")
        }
        return MemcachedItem(value: try Self.bytes(fromHex: hex), flags: flags, ttl: result["ttl"]?.int, repr: repr)
    }
}

// MARK: - Raw ZooKeeper reads (zookeeper:// peers only)

extension PythonPeer {
    /// A znode as kazoo reads it.
    struct ZNode: Sendable, Equatable {
        var data: [UInt8]
        /// The zxid of the transaction that created it.
        var czxid: Int64
        /// Whether a session owns it (it goes when that session ends).
        var isEphemeral: Bool
        var childCount: Int
    }

    /// The sorted child names of `path`, or `nil` when it does not exist.
    func zooKeeperChildren(_ path: String) async throws -> [String]? {
        let result = try await call("zk_children", ["path": .string(path)])
        if result == .null { return nil }
        guard let names = result.strings else { throw PeerFailure(description: "zk_children returned \(result)") }
        return names
    }

    /// `path`'s data and stat, or `nil` when it does not exist.
    func zooKeeperNode(_ path: String) async throws -> ZNode? {
        let result = try await call("zk_get", ["path": .string(path)])
        if result == .null { return nil }
        guard let hex = result["data"]?.string, let czxid = result["czxid"]?.int,
            let ephemeral = result["ephemeral"]?.bool, let children = result["num_children"]?.int
        else { throw PeerFailure(description: "zk_get returned \(result)") }
        return ZNode(data: try Self.bytes(fromHex: hex), czxid: Int64(czxid), isEphemeral: ephemeral, childCount: children)
    }

    private static func bytes(fromHex hex: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex),
                let byte = UInt8(hex[index..<next], radix: 16)
            else { throw PeerFailure(description: "bad hex \(hex)") }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

// MARK: - Raw etcd reads (etcd3+http:// peers only)

extension PythonPeer {
    /// A key as etcd3gw reads it through etcd's JSON gateway.
    struct EtcdKeyValue: Sendable, Equatable {
        var value: [UInt8]
        var createRevision: Int64
        var modRevision: Int64
        var version: Int64
        /// The id of the lease the key rides on, in decimal (`"0"` for none): etcd's ids are
        /// int64, which JSON's doubles would round.
        var lease: String
    }

    /// The key `key` (its UTF-8 bytes), or `nil` when it does not exist.
    func etcdKeyValue(_ key: String) async throws -> EtcdKeyValue? {
        let result = try await call("etcd_get", ["key": .string(key)])
        if result == .null { return nil }
        guard let hex = result["value"]?.string, let create = result["create_revision"]?.int, let mod = result["mod_revision"]?.int,
            let version = result["version"]?.int, let lease = result["lease"]?.string
        else { throw PeerFailure(description: "etcd_get returned \(result)") }
        return EtcdKeyValue(
            value: try Self.bytes(fromHex: hex), createRevision: Int64(create), modRevision: Int64(mod), version: Int64(version),
            lease: lease
        )
    }

    /// The id of the driver's membership lease, in decimal.
    func etcdMembershipLease() async throws -> String {
        let result = try await call("etcd_membership_lease")
        guard let lease = result.string else { throw PeerFailure(description: "etcd_membership_lease returned \(result)") }
        return lease
    }
}
