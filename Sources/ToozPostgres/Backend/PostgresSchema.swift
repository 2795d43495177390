/// Our tables and the SQL that reads and writes them, in one schema (default `tooz`).
///
/// - `groups`: one row per group (logged: groups outlive their members, as in tooz).
/// - `members`: one row per membership with its msgpack capabilities and the **session key**
///   of the member's liveness connection. That connection holds the int8 advisory lock of the
///   key for as long as it lives, so a member is alive exactly while `pg_locks` shows that lock
///   granted: a killed process drops out as soon as the server notices its connection closed,
///   and a frozen one when the connection's `idle_session_timeout` (the membership TTL) ends it.
///   Unlogged: nothing in it survives a crash that the sessions would not.
/// - `sessions`: which member each of our lock connections belongs to (by the int8 key that
///   connection holds), so that `pg_locks` tells who holds a lock. Unlogged.
/// - `fencing`: one sequence whose `nextval` is taken in the statement that acquires a lock.
///
/// The schema name is checked by ``isValidName(_:)`` and is the only thing spliced into SQL;
/// every value is a bound parameter.
package struct PostgresSchema: Sendable {
    package let name: String

    package init(name: String) {
        self.name = name
    }

    /// A plain lowercase identifier that needs no quoting: at most 63 bytes, a letter or `_`
    /// first, then letters, digits or `_`.
    package static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 63 else { return false }
        let isLower = { (byte: UInt8) in (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_") }
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        return isLower(first) && bytes.allSatisfy { isLower($0) || isDigit($0) }
    }

    /// The `LISTEN`/`NOTIFY` channel of our group events: the schema's name.
    package var channel: String { name }

    // MARK: Migration

    /// Whether every object exists already (one read, so a user without CREATE can use a
    /// schema someone else made).
    package var isMigratedQuery: String {
        """
        SELECT to_regclass('\(name).groups') IS NOT NULL AND to_regclass('\(name).members') IS NOT NULL
           AND to_regclass('\(name).sessions') IS NOT NULL AND to_regclass('\(name).fencing') IS NOT NULL
        """
    }

    /// The statements that create what is missing, run in one transaction under a transaction
    /// advisory lock so that concurrent first users do not race on the catalog.
    package var migration: [String] {
        [
            "SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))",
            "CREATE SCHEMA IF NOT EXISTS \(name)",
            "CREATE TABLE IF NOT EXISTS \(name).groups (name text PRIMARY KEY)",
            """
            CREATE UNLOGGED TABLE IF NOT EXISTS \(name).members (
                group_name text NOT NULL, member text NOT NULL, capabilities bytea NOT NULL, session_key bigint NOT NULL,
                PRIMARY KEY (group_name, member))
            """,
            "CREATE UNLOGGED TABLE IF NOT EXISTS \(name).sessions (session_key bigint PRIMARY KEY, member text NOT NULL)",
            "CREATE SEQUENCE IF NOT EXISTS \(name).fencing",
        ]
    }

    /// The int8 advisory key that serialises migrations ("tooz-mig" in ASCII).
    static let migrationLockKey: Int64 = 0x746F_6F7A_2D6D_6967

    // MARK: Liveness

    /// The int8 advisory keys granted right now, as one hashed set: a member or lock
    /// connection is alive while its session key is in it.
    private var liveKeys: String {
        """
        SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
        """
    }

    /// Takes a connection's session key and names its member. $1 key, $2 member.
    package var registerSession: String {
        """
        WITH l AS (SELECT pg_try_advisory_lock($1::int8) AS ok)
        INSERT INTO \(name).sessions (session_key, member) SELECT $1::int8, $2::text FROM l WHERE l.ok
        ON CONFLICT (session_key) DO UPDATE SET member = excluded.member
        RETURNING 1
        """
    }

    /// Forgets the sessions whose connections are gone (rows of killed processes).
    package var pruneSessions: String {
        "DELETE FROM \(name).sessions WHERE session_key NOT IN (\(liveKeys))"
    }

    // MARK: Groups

    /// $1 group. One row when created.
    package var createGroup: String {
        "INSERT INTO \(name).groups (name) VALUES ($1::text) ON CONFLICT DO NOTHING RETURNING 1"
    }

    /// $1 group, $2 channel. Deletes the group and its dead members' rows unless a live member
    /// is in it. Returns (existed, deleted).
    package var deleteGroup: String {
        """
        WITH g AS (SELECT name FROM \(name).groups WHERE name = $1::text),
        busy AS (SELECT 1 FROM \(name).members WHERE group_name = $1::text AND session_key IN (\(liveKeys)) LIMIT 1),
        del AS (DELETE FROM \(name).groups WHERE name = $1::text AND NOT EXISTS (SELECT 1 FROM busy) RETURNING 1),
        dm AS (DELETE FROM \(name).members WHERE group_name = $1::text AND EXISTS (SELECT 1 FROM del))
        SELECT (SELECT count(*) FROM g) AS existed, (SELECT count(*) FROM del) AS deleted,
               (SELECT count(*) FROM (SELECT pg_notify($2::text, $1::text) FROM del) n) AS notified
        """
    }

    package var listGroups: String { "SELECT name FROM \(name).groups" }

    /// $1 group, $2 member, $3 capabilities, $4 session key, $5 channel. Inserts the row, or
    /// takes over a row whose session is dead. Returns (group exists, joined).
    package var join: String {
        """
        WITH g AS (SELECT 1 FROM \(name).groups WHERE name = $1::text),
        ins AS (
            INSERT INTO \(name).members AS m (group_name, member, capabilities, session_key)
            SELECT $1::text, $2::text, $3::bytea, $4::int8 FROM g
            ON CONFLICT (group_name, member) DO UPDATE SET capabilities = excluded.capabilities, session_key = excluded.session_key
            WHERE NOT EXISTS (
                SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = m.session_key)
            RETURNING 1)
        SELECT (SELECT count(*) FROM g) AS group_exists, (SELECT count(*) FROM ins) AS joined,
               (SELECT count(*) FROM (SELECT pg_notify($5::text, $1::text) FROM ins) n) AS notified
        """
    }

    /// $1 group, $2 member, $3 channel. Returns (group exists, left).
    package var leave: String {
        """
        WITH d AS (DELETE FROM \(name).members WHERE group_name = $1::text AND member = $2::text RETURNING 1)
        SELECT EXISTS (SELECT 1 FROM \(name).groups WHERE name = $1::text) AS group_exists, (SELECT count(*) FROM d) AS left_,
               (SELECT count(*) FROM (SELECT pg_notify($3::text, $1::text) FROM d) n) AS notified
        """
    }

    /// $1 group. One row per live member, or one row with a NULL member when there is none;
    /// the first column says whether the group exists.
    package func members(withCapabilities: Bool) -> String {
        """
        SELECT g.name IS NOT NULL AS group_exists, m.member\(withCapabilities ? ", m.capabilities" : "")
          FROM (SELECT 1) one
          LEFT JOIN \(name).groups g ON g.name = $1::text
          LEFT JOIN \(name).members m ON g.name IS NOT NULL AND m.group_name = $1::text AND m.session_key IN (\(liveKeys))
        """
    }

    /// $1 group, $2 member. Returns (group exists, capabilities or NULL).
    package var capabilities: String {
        """
        SELECT EXISTS (SELECT 1 FROM \(name).groups WHERE name = $1::text) AS group_exists,
               (SELECT capabilities FROM \(name).members
                 WHERE group_name = $1::text AND member = $2::text AND session_key IN (\(liveKeys))) AS capabilities
        """
    }

    /// $1 group, $2 member, $3 capabilities, $4 channel. Returns (group exists, updated).
    package var updateCapabilities: String {
        """
        WITH u AS (UPDATE \(name).members SET capabilities = $3::bytea WHERE group_name = $1::text AND member = $2::text RETURNING 1)
        SELECT EXISTS (SELECT 1 FROM \(name).groups WHERE name = $1::text) AS group_exists, (SELECT count(*) FROM u) AS updated,
               (SELECT count(*) FROM (SELECT pg_notify($4::text, $1::text) FROM u) n) AS notified
        """
    }

    /// $1 member, $2 session key, $3 groups. The groups where the member's row is there, on
    /// this session, in a group that exists.
    package var heartbeat: String {
        """
        SELECT m.group_name FROM \(name).members m JOIN \(name).groups g ON g.name = m.group_name
         WHERE m.member = $1::text AND m.session_key = $2::int8 AND m.group_name = ANY($3::text[])
        """
    }

    // MARK: Locks

    /// The fencing sequence's name, for `nextval($n::regclass)` in a prepared statement.
    package var fencingSequence: String { "\(name).fencing" }

    /// One attempt on a leadership: the fencing token when taken, NULL when someone else holds
    /// the key; a taken leadership also notifies the channel ($N) with the group ($N+1). Named
    /// locks take the fixed statement ``PostgresStatements/TryLockPair``.
    package func tryAcquire(_ key: PostgresAdvisoryKey, notifyParameter: Int) -> String {
        let take = "SELECT CASE WHEN pg_try_advisory_lock(\(key.arguments)) THEN nextval('\(name).fencing') END AS fence"
        return "SELECT t.fence, (SELECT count(*) FROM (SELECT pg_notify($\(notifyParameter)::text, $\(notifyParameter + 1)::text) WHERE t.fence IS NOT NULL) n) FROM (\(take)) t"
    }

    /// A wait on the server: sets `lock_timeout` ($N, in milliseconds as text, `0` for none),
    /// then blocks in `pg_advisory_lock`; returns the fencing token. A wait that times out fails
    /// with SQLSTATE 55P03 and takes nothing.
    package func waitAcquire(_ key: PostgresAdvisoryKey, timeoutParameter: Int, notifyParameter: Int?) -> String {
        let notify = notifyParameter.map { ", pg_notify($\($0)::text, $\($0 + 1)::text)" } ?? ""
        return "SELECT set_config('lock_timeout', $\(timeoutParameter)::text, false), pg_advisory_lock(\(key.arguments))\(notify), nextval('\(name).fencing')"
    }

    /// Whether this connection still holds the key (a refresh; it also restarts the server's
    /// idle timer of the connection).
    package func holds(_ key: PostgresAdvisoryKey) -> String {
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted AND \(key.pgLocksMatch))"
    }

    /// Releases a leadership and notifies the channel ($N) with the group ($N+1). Named locks
    /// take the fixed statement ``PostgresStatements/UnlockPair``.
    package func release(_ key: PostgresAdvisoryKey, notifyParameter: Int) -> String {
        "SELECT pg_advisory_unlock(\(key.arguments)), pg_notify($\(notifyParameter)::text, $\(notifyParameter + 1)::text)"
    }

    /// The member whose lock connection holds the key, if it is one of ours.
    package func holder(_ key: PostgresAdvisoryKey) -> String {
        """
        WITH h AS (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND \(key.pgLocksMatch)
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())),
        mine AS (SELECT l.pid, (l.classid::bigint << 32) | l.objid::bigint AS session_key FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.pid IN (SELECT pid FROM h))
        SELECT s.member FROM mine JOIN \(name).sessions s ON s.session_key = mine.session_key LIMIT 1
        """
    }

    /// Ends the sessions that hold the key (a holder's connection, and with it its lock),
    /// waiting up to `waitMilliseconds` for each to have ended: a terminated backend frees its
    /// locks only when it exits, which a busy server may take a moment to do, and a breaker
    /// must find the lock free once the break has returned.
    package func breakLock(_ key: PostgresAdvisoryKey, waitMilliseconds: Int64) -> String {
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, \(waitMilliseconds))) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND \(key.pgLocksMatch) AND pid <> pg_backend_pid()
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """
    }
}
