import Foundation
import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 (PyMySQL) and swift-tooz on one real MariaDB (`TOOZ_TEST_MYSQL_URL`): a named
/// lock is the same user lock on both sides (`GET_LOCK` of the name's raw bytes), so they exclude
/// each other both ways; a blocking Swift acquire waits on the server and is handed the lock
/// when Python releases; Python's blocking acquire (a `GET_LOCK(name, 0)` loop) gets it after a
/// Swift release; a Python holder that is killed loses its lock as soon as the server sees its
/// connection close.
///
/// What the two cannot share: Python tooz's MySQL driver has locks only (no groups, no leaders),
/// and keeps no member id on the server, so Swift's `holder()` of a Python-held lock is `nil`.
///
/// What the server shows is read by a probe of our own (PyMySQL in the same venv): `IS_USED_LOCK`
/// and the process list. The server is shared with other tests and runs, so every lock name is
/// unique, every test releases what it took, and every wait has a limit.
@Suite("Interop: MySQL with Python tooz", .requiresPythonTooz, .requiresMySQLServer, .serialized, .timeLimit(.minutes(3)))
struct MySQLInteropTests {
    @Test("A Python holder keeps Swift out (holder() is nil: Python stores no member); once Python releases Swift takes it")
    func pythonHolderExcludesSwift() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("my-lock")
        try await Self.withPython("lock-py", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                let pythonHolder = try #require(try await probe.holder(of: lockName), "Python's GET_LOCK left no holder")

                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == nil)
                await #expect {
                    try await coordinator.withLock(named: LockName(lockName), wait: .never) { _ in
                        Issue.record("the body ran while Python held \(lockName)")
                    }
                } throws: { error in
                    (error as? ToozError)?.code == .lockBusy
                }
                #expect(try await probe.holder(of: lockName) == pythonHolder)

                #expect(try await python.release(lockName))
                #expect(try await probe.holder(of: lockName) == nil)
                let lease = try #require(try await lock.tryAcquire(), "Swift could not take \(lockName) after Python released it")
                #expect(lease.state == .held)
                #expect(lease.fencingToken.strength == .durable)
                #expect(try await lock.holder() == swiftMember)
                let swiftHolder = try #require(try await probe.holder(of: lockName))
                #expect(swiftHolder != pythonHolder)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await probe.holder(of: lockName) == nil)
            }
        }
    }

    @Test("A Swift holder keeps Python's non-blocking acquire out; once Swift releases Python takes it")
    func swiftHolderExcludesPython() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("my-lock")
        try await Self.withPython("lock-swift", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                #expect(try await lock.holder() == swiftMember)
                let swiftHolder = try #require(try await probe.holder(of: lockName))

                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await probe.holder(of: lockName) == swiftHolder)

                #expect(try await lease.release())
                #expect(lease.state == .released)
                #expect(try await probe.holder(of: lockName) == nil)
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == nil)
                #expect(try await python.release(lockName))
                #expect(try await probe.holder(of: lockName) == nil)
            }
        }
    }

    @Test("Names with quotes, backslashes, semicolons and non-ASCII are the same lock on both sides")
    func awkwardNamesAreTheSameLock() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("it's a \\ lock; ünï\"")
        try await Self.withPython("names", url: url) { python, probe in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try #require(try await lock.tryAcquire())
                #expect(try await probe.holder(of: lockName) != nil, "the server does not show the raw name's lock")
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lease.release())
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await python.release(lockName))
            }
        }
    }

    @Test("A blocking Swift acquire waits on the server behind a Python holder and is handed the lock when Python releases")
    func swiftWaitsForPython() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("my-wait")
        try await Self.withPython("wait-swift", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                async let waited = lock.acquire(wait: .upTo(.seconds(30)))
                // Our wait is one GET_LOCK with the deadline as its timeout, blocked in the server.
                try await eventually("the Swift acquire to wait on the server for \(lockName)") {
                    try await probe.waiters(of: lockName) == 1
                }
                #expect(try await python.release(lockName))
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await probe.waiters(of: lockName) == 0)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lease.release())
            }
        }
    }

    @Test("A blocking Python acquire gets the lock after the Swift holder releases it")
    func pythonWaitsForSwift() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("my-wait")
        try await Self.withPython("wait-py", url: url) { python, probe in
            let coordinator = try Coordinator(url: url, member: MemberID(uniqueName("swift")))
            try await coordinator.withRunning {
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                let started = try await python.startBlockingAcquire(lockName)
                #expect(started.done == false)
                let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 0)
                #expect(meanwhile == PythonPeer.BackgroundAcquire(done: false, acquired: nil, error: nil))

                #expect(try await lease.release())
                let after = try await python.waitForBackgroundAcquire(lockName, seconds: 30)
                #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))
                #expect(try await probe.holder(of: lockName) != nil)
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await python.release(lockName))
                #expect(try await probe.holder(of: lockName) == nil)
            }
        }
    }

    @Test("A Python holder killed with SIGKILL loses its lock as soon as its connection closes: a waiting Swift acquire gets it")
    func killedPythonHolderFreesTheLock() async throws {
        let url = try InteropEnvironment.requireMySQLURL()
        let lockName = uniqueName("my-killed")
        try await Self.withPython("killed", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await python.tryAcquire(lockName))
                let pythonHolder = try #require(try await probe.holder(of: lockName))
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)

                // No release, no stop(): only the end of the dead process's session frees it.
                try await python.kill()
                let lease = try await lock.acquire(wait: .upTo(.seconds(30)))
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                let holder = try #require(try await probe.holder(of: lockName))
                #expect(holder != pythonHolder)
                try await eventually("the killed Python holder's connection \(pythonHolder) to end") {
                    try await !probe.isConnectionAlive(pythonHolder)
                }
                #expect(try await lock.release())
            }
        }
    }

    // MARK: Helpers

    /// Starts a Python peer (a tooz coordinator on `url`) and a probe, runs `body`, and always
    /// shuts both down.
    static func withPython<Result: Sendable>(
        _ label: String, url: String, _ body: (PythonPeer, MySQLProbe) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("mysql-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: uniqueName("py"))
                return try await MySQLProbe.with(url: url, in: directory) { probe in
                    try await body(python, probe)
                }
            }
        }
    }
}

/// A PyMySQL client in a child process (the interop venv's Python) that reads which connection
/// holds a user lock (`IS_USED_LOCK` of the name's raw bytes) and who waits for one (the process
/// list), so that what the server holds is checked independently of both tooz implementations.
/// It runs as a ``PeerProbe``.
final class MySQLProbe: Sendable {
    private let probe: PeerProbe

    private init(probe: PeerProbe) {
        self.probe = probe
    }

    /// Starts a probe connected to the server and database of `url`, runs `body`, and always
    /// ends the probe.
    static func with<Result: Sendable>(
        url: String, in directory: TemporaryDirectory, _ body: (MySQLProbe) async throws -> Result
    ) async throws -> Result {
        let parsed = try BackendURL(url)
        let arguments: [String: JSONValue] = [
            "host": .string(parsed.host ?? "127.0.0.1"), "port": .number(Double(parsed.port ?? 3306)),
            "user": .string(parsed.user ?? ""), "password": .string(parsed.password ?? ""), "db": .string(String(parsed.path.dropFirst())),
        ]
        return try await PeerProbe.with(name: "mysql_probe", script: Self.script, in: directory, connect: arguments) { probe in
            try await body(MySQLProbe(probe: probe))
        }
    }

    /// The connection id holding the user lock `name`, or nil.
    func holder(of name: String) async throws -> Int? {
        let result = try await call("holder", ["name": .string(name)])
        if case .null = result { return nil }
        guard let id = result.int else { throw PythonPeer.PeerFailure(description: "holder returned \(result)") }
        return id
    }

    /// How many connections wait in `GET_LOCK` for `name` (as swift-tooz sends it).
    func waiters(of name: String) async throws -> Int {
        let result = try await call("waiters", ["name": .string(name)])
        guard let count = result.int else { throw PythonPeer.PeerFailure(description: "waiters returned \(result)") }
        return count
    }

    /// Whether the connection `id` is still in the process list.
    func isConnectionAlive(_ id: Int) async throws -> Bool {
        let result = try await call("alive", ["connection": .number(Double(id))])
        guard let alive = result.bool else { throw PythonPeer.PeerFailure(description: "alive returned \(result)") }
        return alive
    }

    private func call(_ op: String, _ arguments: [String: JSONValue] = [:]) async throws -> JSONValue {
        try await probe.call(op, arguments)
    }

    private static let script = #"""
        import json, os, sys, threading, time
        import pymysql

        def write(message):
            sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
            sys.stdout.flush()

        def watchdog(parent, deadline):
            while True:
                time.sleep(0.2)
                if os.getppid() != parent or time.monotonic() > deadline:
                    os._exit(3)

        def main():
            limit = float(sys.argv[sys.argv.index("--max-seconds") + 1]) if "--max-seconds" in sys.argv else 300.0
            threading.Thread(target=watchdog, args=(os.getppid(), time.monotonic() + limit), daemon=True).start()
            conn = None
            write({"id": 0, "ok": True, "result": {"pymysql": pymysql.__version__}})
            for line in sys.stdin:
                if not line.strip():
                    continue
                ident = None
                try:
                    request = json.loads(line)
                    ident = request.pop("id", None)
                    op = request.pop("op")
                    if op == "connect":
                        conn = pymysql.connect(host=request["host"], port=int(request["port"]), user=request["user"],
                                               password=request["password"], database=request["db"], autocommit=True)
                        result = True
                    elif op == "holder":
                        with conn.cursor() as cur:
                            cur.execute("SELECT IS_USED_LOCK(%s)", (request["name"].encode("utf-8"),))
                            result = cur.fetchone()[0]
                    elif op == "waiters":
                        needle = "X'" + request["name"].encode("utf-8").hex() + "'"
                        with conn.cursor() as cur:
                            cur.execute("SELECT COUNT(*) FROM information_schema.processlist"
                                        " WHERE state = 'User lock' AND LOCATE(%s, info) > 0", (needle,))
                            result = cur.fetchone()[0]
                    elif op == "alive":
                        with conn.cursor() as cur:
                            cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", (int(request["connection"]),))
                            result = cur.fetchone()[0] > 0
                    else:
                        raise ValueError("unknown op %r" % op)
                    write({"id": ident, "ok": True, "result": result})
                except Exception as exc:
                    write({"id": ident, "ok": False, "error": type(exc).__name__, "message": str(exc)})
            if conn is not None:
                conn.close()

        main()
        """#
}
