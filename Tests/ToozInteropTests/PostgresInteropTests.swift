import Foundation
import Testing
import ToozBackends
import ToozTestKit

/// Python tooz 9.1.0 (psycopg2) and swift-tooz on one real PostgreSQL (`TOOZ_TEST_POSTGRES_URL`):
/// with the default keys, a named lock is the same session advisory lock on both sides
/// (`pg_advisory_lock(k1, k2)` with k1, k2 bytes 0 and 1 of the name's MD5), so they exclude
/// each other both ways, and a blocking acquire on either side waits on the server and is handed
/// the lock when the other releases it. A Python holder that is killed loses its lock as soon as
/// the server sees its connection close. With `lock_keys=bigint` Swift takes int8 keys of its own,
/// which Python does not share: the two no longer exclude each other.
///
/// What the two cannot share: Python tooz's PostgreSQL driver has locks only (no groups, no
/// leaders), and it keeps no member id on the server, so Swift's `holder()` of a Python-held lock
/// is `nil`.
///
/// What the server shows is read from `pg_locks` by a probe of our own (psycopg2 in the same
/// venv), which also computes the keys with Python's hashlib. The server is shared with other
/// tests and runs, so every lock name is unique (except "mylock", whose key the derivation test
/// pins), every test releases what it took, and every wait has a limit. A tooz key has only 16
/// bits: another run's lock may share one, rarely, and then these tests see its holder.
@Suite(
    "Interop: PostgreSQL with Python tooz", .requiresPythonTooz, .requiresPostgresServer, .serialized,
    .timeLimit(.minutes(3))
)
struct PostgresInteropTests {
    typealias Key = PostgresProbe.AdvisoryKey
    typealias Holding = PostgresProbe.Holding

    // MARK: Exclusion

    @Test("A Python holder keeps Swift out (holder() is nil: Python stores no member); once Python releases Swift takes it")
    func pythonHolderExcludesSwift() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        let lockName = uniqueName("pg-lock")
        try await Self.withPython("lock-py", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let key = try await probe.toozKey(lockName)
                #expect(try await python.tryAcquire(lockName))
                let pythonHold = try await probe.holdings(of: key)
                #expect(pythonHold.count == 1 && pythonHold.allSatisfy(\.granted), "pg_locks for \(key): \(pythonHold)")

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
                // Swift's refused tries left no lock of theirs behind.
                #expect(try await probe.holdings(of: key) == pythonHold)

                #expect(try await python.release(lockName))
                #expect(try await probe.holdings(of: key) == [])
                let lease = try #require(try await lock.tryAcquire(), "Swift could not take \(lockName) after Python released it")
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                let swiftHold = try await probe.holdings(of: key)
                #expect(swiftHold.count == 1 && swiftHold.allSatisfy(\.granted), "pg_locks for \(key): \(swiftHold)")
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await probe.holdings(of: key) == [])
            }
        }
    }

    @Test("A Swift holder keeps Python's non-blocking acquire out; once Swift releases Python takes it")
    func swiftHolderExcludesPython() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        let lockName = uniqueName("pg-lock")
        try await Self.withPython("lock-swift", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let key = try await probe.toozKey(lockName)
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                #expect(try await lock.holder() == swiftMember)
                let swiftHold = try await probe.holdings(of: key)
                #expect(swiftHold.count == 1 && swiftHold.allSatisfy(\.granted), "pg_locks for \(key): \(swiftHold)")

                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await probe.holdings(of: key) == swiftHold)

                #expect(try await lease.release())
                #expect(lease.state == .released)
                #expect(try await probe.holdings(of: key) == [])
                #expect(try await python.tryAcquire(lockName))
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await lock.holder() == nil)
                #expect(try await python.release(lockName))
                #expect(try await probe.holdings(of: key) == [])
            }
        }
    }

    // MARK: Waiting on the server

    @Test("A blocking Swift acquire waits on the server behind a Python holder and is handed the lock when Python releases")
    func swiftWaitsForPython() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        let lockName = uniqueName("pg-wait")
        try await Self.withPython("wait-swift", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let key = try await probe.toozKey(lockName)
                #expect(try await python.tryAcquire(lockName))
                let pythonPID = try #require(try await probe.holdings(of: key).first(where: \.granted)?.pid)

                let lock = try coordinator.lock(named: LockName(lockName))
                async let waited = lock.acquire(wait: .upTo(.seconds(30)))
                // The Swift waiter is a backend blocked in pg_advisory_lock: an ungranted request
                // for the same key, queued behind Python's session (a poller would show none).
                try await eventually("the Swift acquire to wait on the server for \(key)") {
                    try await probe.holdings(of: key).contains { !$0.granted }
                }
                let queued = try await probe.holdings(of: key)
                let waiterPID = try #require(queued.first(where: { !$0.granted })?.pid)
                #expect(queued == [Holding(granted: true, pid: pythonPID), Holding(granted: false, pid: waiterPID)])

                #expect(try await python.release(lockName))
                let lease = try await waited
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                // The server granted the waiting request: the same backend holds the lock now.
                #expect(try await probe.holdings(of: key) == [Holding(granted: true, pid: waiterPID)])
                #expect(try await python.tryAcquire(lockName) == false)
                #expect(try await lock.release())
                #expect(try await probe.holdings(of: key) == [])
            }
        }
    }

    @Test("A blocking Python acquire waits on the server behind a Swift holder and gets the lock after the Swift release")
    func pythonWaitsForSwift() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        let lockName = uniqueName("pg-wait")
        try await Self.withPython("wait-py", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let key = try await probe.toozKey(lockName)
                let lock = try coordinator.lock(named: LockName(lockName))
                let lease = try await lock.acquire(wait: .never)
                let swiftPID = try #require(try await probe.holdings(of: key).first(where: \.granted)?.pid)

                let started = try await python.startBlockingAcquire(lockName)
                #expect(started.done == false)
                // tooz's blocking acquire is one pg_advisory_lock on a new connection.
                try await eventually("the Python acquire to wait on the server for \(key)") {
                    try await probe.holdings(of: key).contains { !$0.granted }
                }
                let queued = try await probe.holdings(of: key)
                let waiterPID = try #require(queued.first(where: { !$0.granted })?.pid)
                #expect(queued == [Holding(granted: true, pid: swiftPID), Holding(granted: false, pid: waiterPID)])
                let meanwhile = try await python.waitForBackgroundAcquire(lockName, seconds: 0)
                #expect(meanwhile == PythonPeer.BackgroundAcquire(done: false, acquired: nil, error: nil))

                #expect(try await lease.release())
                #expect(lease.state == .released)
                let after = try await python.waitForBackgroundAcquire(lockName, seconds: 30)
                #expect(after == PythonPeer.BackgroundAcquire(done: true, acquired: true, error: nil))
                #expect(try await probe.holdings(of: key) == [Holding(granted: true, pid: waiterPID)])

                // Python's hold is real: Swift is kept out until Python releases.
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await python.release(lockName))
                #expect(try await probe.holdings(of: key) == [])
                #expect(try await lock.tryAcquire() != nil)
                #expect(try await lock.release())
            }
        }
    }

    // MARK: Keys

    @Test("Both sides take tooz's key: \"mylock\" is pg_locks classid 200, objid 223, objsubid 2 whoever holds it")
    func keyDerivation() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        // A fixed name, so that the key is a known constant: md5("mylock") starts C8 DF.
        let lockName = "mylock"
        let key = Key(classid: 200, objid: 223, objsubid: 2)
        try await Self.withPython("keys", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                #expect(try await probe.toozKey(lockName) == key)
                #expect(try await probe.holdings(of: key) == [], "someone else holds \(lockName) on this server")

                #expect(try await python.tryAcquire(lockName))
                let pythonHold = try await probe.holdings(of: key)
                #expect(pythonHold.count == 1 && pythonHold.allSatisfy(\.granted), "pg_locks for \(key): \(pythonHold)")
                let lock = try coordinator.lock(named: LockName(lockName))
                // The session holding it is none of ours: no member to name.
                #expect(try await lock.holder() == nil)
                #expect(try await lock.tryAcquire() == nil)
                #expect(try await python.release(lockName))
                #expect(try await probe.holdings(of: key) == [])

                let lease = try #require(try await lock.tryAcquire())
                let swiftHold = try await probe.holdings(of: key)
                #expect(swiftHold.count == 1 && swiftHold.allSatisfy(\.granted), "pg_locks for \(key): \(swiftHold)")
                #expect(swiftHold != pythonHold)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await lease.release())
                #expect(try await probe.holdings(of: key) == [])

                // Any name: the key Python's hashlib gives is the one Swift's hold shows.
                let other = uniqueName("pg-key-ünï")
                let otherKey = try await probe.toozKey(other)
                let otherLock = try coordinator.lock(named: LockName(other))
                let otherLease = try #require(try await otherLock.tryAcquire())
                #expect(try await probe.holdings(of: otherKey).filter(\.granted).count == 1)
                #expect(try await python.tryAcquire(other) == false)
                #expect(try await otherLease.release())
                #expect(try await probe.holdings(of: otherKey) == [])
            }
        }
    }

    @Test("With lock_keys=bigint Swift takes int8 keys of its own: a Python holder of a name does not exclude a Swift holder of it")
    func bigintKeysAreNotShared() async throws {
        let pythonURL = try InteropEnvironment.requirePostgresURL()
        let url = try InteropEnvironment.requirePostgresURL("lock_keys=bigint")
        let first = uniqueName("pg-bigint")
        let second = uniqueName("pg-bigint")
        try await Self.withPython("bigint", url: pythonURL) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let toozKey = try await probe.toozKey(first)
                // Swift's int8 key: the first 8 bytes of md5("lock\u{1}" + name), which pg_locks
                // shows split into classid (high half) and objid (low half), objsubid 1.
                let bigintKey = try await probe.bigintKey("lock\u{1}" + first)

                #expect(try await python.tryAcquire(first))
                let lock = try coordinator.lock(named: LockName(first))
                let lease = try #require(try await lock.tryAcquire(), "Swift (lock_keys=bigint) was kept out of \(first) by Python")
                // Both hold "the same" lock, each on its own key.
                #expect(try await probe.holdings(of: toozKey).filter(\.granted).count == 1)
                #expect(try await probe.holdings(of: bigintKey).filter(\.granted).count == 1)
                #expect(try await lock.holder() == swiftMember)
                #expect(try await python.release(first))
                #expect(try await lease.release())
                #expect(try await probe.holdings(of: toozKey) == [])
                #expect(try await probe.holdings(of: bigintKey) == [])

                // The other way round: a Swift holder does not keep Python out either.
                let secondLock = try coordinator.lock(named: LockName(second))
                let secondLease = try #require(try await secondLock.tryAcquire())
                #expect(try await python.tryAcquire(second))
                #expect(try await python.release(second))
                #expect(try await secondLease.release())
            }
        }
    }

    // MARK: Liveness

    @Test("A Python holder killed with SIGKILL loses its lock as soon as its connection closes: a waiting Swift acquire gets it")
    func killedPythonHolderFreesTheLock() async throws {
        let url = try InteropEnvironment.requirePostgresURL()
        let lockName = uniqueName("pg-killed")
        try await Self.withPython("killed", url: url) { python, probe in
            let swiftMember = MemberID(uniqueName("swift"))
            let coordinator = try Coordinator(url: url, member: swiftMember)
            try await coordinator.withRunning {
                let key = try await probe.toozKey(lockName)
                #expect(try await python.tryAcquire(lockName))
                let pythonPID = try #require(try await probe.holdings(of: key).first(where: \.granted)?.pid)
                let lock = try coordinator.lock(named: LockName(lockName))
                #expect(try await lock.tryAcquire() == nil)

                // No release, no stop(): Python tooz has no lease either, so only the end of the
                // dead process's session can free the lock.
                try await python.kill()
                let lease = try await lock.acquire(wait: .upTo(.seconds(30)))
                #expect(lease.state == .held)
                #expect(try await lock.holder() == swiftMember)
                let held = try await probe.holdings(of: key)
                #expect(held.count == 1 && held.allSatisfy { $0.granted && $0.pid != pythonPID }, "pg_locks for \(key): \(held)")
                try await eventually("the killed Python holder's backend \(pythonPID) to end") {
                    try await !probe.isBackendAlive(pythonPID)
                }
                #expect(try await lock.release())
                #expect(try await probe.holdings(of: key) == [])
            }
        }
    }

    // MARK: Helpers

    /// Starts a Python peer (a tooz coordinator on `url`) and a `pg_locks` probe, runs `body`,
    /// and always shuts both down.
    static func withPython<Result: Sendable>(
        _ label: String,
        url: String,
        _ body: (PythonPeer, PostgresProbe) async throws -> Result
    ) async throws -> Result {
        try await TemporaryDirectory.with("postgres-\(label)") { directory in
            try await PythonPeer.with("py", in: directory) { python in
                try await python.start(url: url, member: uniqueName("py"))
                return try await PostgresProbe.with(url: url, in: directory) { probe in
                    try await body(python, probe)
                }
            }
        }
    }
}

/// A psycopg2 client in a child process (the interop venv's Python) that reads `pg_locks` and
/// computes tooz's keys with hashlib, so that what the server holds is checked independently of
/// both tooz implementations. It runs as a ``PeerProbe``.
final class PostgresProbe: Sendable {
    /// An advisory lock key as `pg_locks` shows it.
    struct AdvisoryKey: Sendable, Hashable, CustomStringConvertible {
        var classid: Int
        var objid: Int
        var objsubid: Int
        var description: String { "advisory key (\(classid), \(objid), \(objsubid))" }
    }

    /// One session's lock on a key: held, or waited for; `pid` is the server backend's.
    struct Holding: Sendable, Hashable, CustomStringConvertible {
        var granted: Bool
        var pid: Int
        var description: String { "\(granted ? "held" : "waited for") by backend \(pid)" }
    }

    private let probe: PeerProbe

    private init(probe: PeerProbe) {
        self.probe = probe
    }

    /// Starts a probe connected to `url` (its query options, which libpq would refuse, dropped),
    /// runs `body`, and always ends the probe.
    static func with<Result: Sendable>(
        url: String, in directory: TemporaryDirectory, _ body: (PostgresProbe) async throws -> Result
    ) async throws -> Result {
        let dsn = String(url.prefix { $0 != "?" })
        return try await PeerProbe.with(name: "pg_probe", script: Self.script, in: directory, connect: ["dsn": .string(dsn)]) { probe in
            try await body(PostgresProbe(probe: probe))
        }
    }

    /// tooz 9.1.0's key of a lock name: `md5(name)[0:2]`, as `pg_advisory_lock(k1, k2)` takes it.
    func toozKey(_ name: String) async throws -> AdvisoryKey {
        try Self.key(await call("tooz_key", ["name": .string(name)]))
    }

    /// The int8 key of the first 8 bytes of `md5(text)`, big-endian.
    func bigintKey(_ text: String) async throws -> AdvisoryKey {
        try Self.key(await call("bigint_key", ["text": .string(text)]))
    }

    /// The sessions that hold or wait for `key` in the current database: granted first, then by
    /// backend pid.
    func holdings(of key: AdvisoryKey) async throws -> [Holding] {
        let rows = try await call(
            "holdings",
            ["classid": .number(Double(key.classid)), "objid": .number(Double(key.objid)), "objsubid": .number(Double(key.objsubid))]
        )
        guard let array = rows.array else { throw PythonPeer.PeerFailure(description: "holdings returned \(rows)") }
        return try array.map { row in
            guard let granted = row["granted"]?.bool, let pid = row["pid"]?.int else {
                throw PythonPeer.PeerFailure(description: "holdings returned the row \(row)")
            }
            return Holding(granted: granted, pid: pid)
        }
    }

    /// Whether the server backend `pid` still exists (`pg_stat_activity`).
    func isBackendAlive(_ pid: Int) async throws -> Bool {
        let result = try await call("backend_alive", ["pid": .number(Double(pid))])
        guard let alive = result.bool else { throw PythonPeer.PeerFailure(description: "backend_alive returned \(result)") }
        return alive
    }

    private static func key(_ json: JSONValue) throws -> AdvisoryKey {
        guard let classid = json["classid"]?.int, let objid = json["objid"]?.int, let objsubid = json["objsubid"]?.int else {
            throw PythonPeer.PeerFailure(description: "expected {classid, objid, objsubid}, got \(json)")
        }
        return AdvisoryKey(classid: classid, objid: objid, objsubid: objsubid)
    }

    private func call(_ op: String, _ arguments: [String: JSONValue] = [:]) async throws -> JSONValue {
        try await probe.call(op, arguments)
    }

    /// The probe's source, written next to the peer's log.
    private static let script = #"""
        import hashlib, json, os, sys, threading, time
        import psycopg2

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
            write({"id": 0, "ok": True, "result": {"psycopg2": psycopg2.__version__}})
            for line in sys.stdin:
                if not line.strip():
                    continue
                ident = None
                try:
                    request = json.loads(line)
                    ident = request.pop("id", None)
                    op = request.pop("op")
                    if op == "connect":
                        conn = psycopg2.connect(request["dsn"])
                        conn.autocommit = True
                        result = True
                    elif op == "tooz_key":
                        digest = hashlib.md5(request["name"].encode("utf-8")).digest()
                        result = {"classid": digest[0], "objid": digest[1], "objsubid": 2}
                    elif op == "bigint_key":
                        value = int.from_bytes(hashlib.md5(request["text"].encode("utf-8")).digest()[:8], "big")
                        result = {"classid": value >> 32, "objid": value & 0xFFFFFFFF, "objsubid": 1}
                    elif op == "holdings":
                        with conn.cursor() as cur:
                            cur.execute(
                                "SELECT granted, pid FROM pg_locks WHERE locktype = 'advisory'"
                                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = %s"
                                " ORDER BY granted DESC, pid",
                                (int(request["classid"]), int(request["objid"]), int(request["objsubid"])),
                            )
                            result = [{"granted": row[0], "pid": row[1]} for row in cur.fetchall()]
                    elif op == "backend_alive":
                        with conn.cursor() as cur:
                            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (int(request["pid"]),))
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
